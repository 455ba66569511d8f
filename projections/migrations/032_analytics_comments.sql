-- Every column of the analytics views carries its meaning, so a BI tool shows it beside the column and
-- docs/analytics.md is checked against it (tests/integration/test_analytics_docs.py). Also corrects three
-- comments of 031 that named values the pipeline does not write.

COMMENT ON COLUMN analytics.version.version IS 'The interface version (1).';
COMMENT ON COLUMN analytics.version.documentation IS 'Where the interface is documented.';

COMMENT ON COLUMN analytics.usage_hourly.tenant_id IS 'The tenant.';
COMMENT ON COLUMN analytics.usage_hourly.customer IS 'The billing customer the usage was charged to.';
COMMENT ON COLUMN analytics.usage_hourly.type IS 'The event type (e.g. llm.tokens, report.completed).';

COMMENT ON COLUMN analytics.usage_daily.tenant_id IS 'The tenant.';
COMMENT ON COLUMN analytics.usage_daily.customer IS 'The billing customer the usage was charged to.';
COMMENT ON COLUMN analytics.usage_daily.type IS 'The event type (e.g. llm.tokens, report.completed).';

COMMENT ON COLUMN analytics.charges.tenant_id IS 'The tenant.';
COMMENT ON COLUMN analytics.charges.customer IS 'The billing customer charged.';
COMMENT ON COLUMN analytics.charges.type IS 'The event type (e.g. llm.tokens, report.completed).';
COMMENT ON COLUMN analytics.charges.burn_table IS 'The name of the burn table that priced it.';
COMMENT ON COLUMN analytics.charges.corrected_at IS 'When it was last voided or amended (NULL if never).';

COMMENT ON COLUMN analytics.ledger.tenant_id IS 'The tenant.';
COMMENT ON COLUMN analytics.ledger.customer IS 'The billing customer.';
COMMENT ON COLUMN analytics.ledger.kind IS
    'What moved the credits: grant, charge, expiry, void, correction or debt_settlement.';
COMMENT ON COLUMN analytics.ledger.detail IS
    'More about the movement (JSON object: a correction''s id and action, the debt a grant settled).';
COMMENT ON COLUMN analytics.ledger.recorded_at IS 'When the movement was written.';

COMMENT ON COLUMN analytics.balances.tenant_id IS 'The tenant.';
COMMENT ON COLUMN analytics.balances.customer IS 'The billing customer.';
COMMENT ON COLUMN analytics.balances.balance IS
    'Credits it can spend now: its active grants'' remaining credits minus its debt.';
COMMENT ON COLUMN analytics.balances.updated_at IS 'When its balance or settings last changed.';

COMMENT ON COLUMN analytics.customers.tenant_id IS 'The tenant.';
COMMENT ON COLUMN analytics.customers.customer IS 'The billing customer''s id, as the tenant sends it.';
COMMENT ON COLUMN analytics.customers.burn_table IS 'The burn table that prices its usage.';
COMMENT ON COLUMN analytics.customers.credit_limit IS 'How far into debt the customer may go.';
COMMENT ON COLUMN analytics.customers.updated_at IS 'When its balance or settings last changed.';

COMMENT ON COLUMN analytics.conversations.tenant_id IS 'The tenant.';
COMMENT ON COLUMN analytics.conversations.conversation_id IS 'The conversation.';
COMMENT ON COLUMN analytics.conversations.agent_id IS 'The agent that answered.';
COMMENT ON COLUMN analytics.conversations.agent_name IS 'The agent''s current name.';
COMMENT ON COLUMN analytics.conversations.visitor_id IS
    'The widget''s anonymous visitor (call:<CallSid> for a voice call).';
COMMENT ON COLUMN analytics.conversations.started_at IS 'Its first message.';
COMMENT ON COLUMN analytics.conversations.last_message_at IS 'Its latest message.';

COMMENT ON COLUMN analytics.messages.tenant_id IS 'The tenant.';
COMMENT ON COLUMN analytics.messages.conversation_id IS 'The conversation.';
COMMENT ON COLUMN analytics.messages.seq IS 'Its place in the conversation, from 1.';
COMMENT ON COLUMN analytics.messages.message_id IS 'The message.';
COMMENT ON COLUMN analytics.messages.agent_id IS 'The conversation''s agent.';
COMMENT ON COLUMN analytics.messages.content IS 'The text.';
COMMENT ON COLUMN analytics.messages.reply_to IS 'For an answer, the seq of the message it answers.';
COMMENT ON COLUMN analytics.messages.model IS 'The model that wrote an answer.';
COMMENT ON COLUMN analytics.messages.input_tokens IS 'Tokens the model read for the answer.';
COMMENT ON COLUMN analytics.messages.output_tokens IS 'Tokens the model wrote.';
COMMENT ON COLUMN analytics.messages.tool_name IS 'For a tool message, the tool called.';
COMMENT ON COLUMN analytics.messages.occurred_at IS 'When it was sent or answered.';

COMMENT ON COLUMN analytics.calls.tenant_id IS 'The tenant.';
COMMENT ON COLUMN analytics.calls.call_sid IS 'The voice provider''s call id (Twilio CallSid).';
COMMENT ON COLUMN analytics.calls.agent_id IS 'The agent that took the call.';
COMMENT ON COLUMN analytics.calls.conversation_id IS 'The conversation the call''s turns are in.';
COMMENT ON COLUMN analytics.calls.from_number IS 'The caller''s number.';
COMMENT ON COLUMN analytics.calls.to_number IS 'The number called.';
COMMENT ON COLUMN analytics.calls.customer IS 'The billing customer its minutes are charged to.';
COMMENT ON COLUMN analytics.calls.state IS 'The call''s latest state (queued, ringing, in-progress, completed, …).';
COMMENT ON COLUMN analytics.calls.started_at IS 'The earliest fact about the call.';
COMMENT ON COLUMN analytics.calls.answered_at IS 'When the agent''s voice session connected.';
COMMENT ON COLUMN analytics.calls.ended_at IS 'When it ended (NULL while it lasts).';
COMMENT ON COLUMN analytics.calls.end_reason IS
    'Why it ended (agent_ended, caller_hangup, silence, max_duration, dropped, busy, failed, completed, …).';

COMMENT ON COLUMN analytics.dead_letters.tenant_id IS 'The tenant.';
COMMENT ON COLUMN analytics.dead_letters.dead_letter_id IS 'The dead letter (revos dlq show ID).';
COMMENT ON COLUMN analytics.dead_letters.topic IS 'The dead-letter topic it was written to.';
COMMENT ON COLUMN analytics.dead_letters.stage IS 'Where it failed (e.g. billing.charge).';
COMMENT ON COLUMN analytics.dead_letters.code IS 'Why, as a stable code (e.g. unpriced, invalid).';
COMMENT ON COLUMN analytics.dead_letters.error_class IS 'The error''s class.';
COMMENT ON COLUMN analytics.dead_letters.message IS 'The error, readable.';
COMMENT ON COLUMN analytics.dead_letters.event_id IS 'The usage event''s id, where the record had one.';
COMMENT ON COLUMN analytics.dead_letters.source_topic IS 'The topic the record came from.';
COMMENT ON COLUMN analytics.dead_letters.source_partition IS 'Its partition there.';
COMMENT ON COLUMN analytics.dead_letters.source_offset IS 'Its offset there.';
COMMENT ON COLUMN analytics.dead_letters.attempts IS 'How often it failed.';
COMMENT ON COLUMN analytics.dead_letters.first_failed_at IS 'When it first failed.';
COMMENT ON COLUMN analytics.dead_letters.last_failed_at IS 'When it last failed.';
COMMENT ON COLUMN analytics.dead_letters.last_replayed_at IS 'When it was last replayed (NULL if never).';

COMMENT ON COLUMN analytics.tenant_activation.tenant_id IS 'The tenant.';
COMMENT ON COLUMN analytics.tenant_activation.signed_up_at IS 'When the tenant was created.';
COMMENT ON COLUMN analytics.tenant_activation.first_agent_at IS 'Its first agent''s creation (NULL if none).';
COMMENT ON COLUMN analytics.tenant_activation.first_conversation_at IS 'Its first conversation (NULL if none).';
COMMENT ON COLUMN analytics.tenant_activation.first_live_conversation_at IS
    'Its first conversation on a site in the agent''s allowed domains (NULL if none).';

COMMENT ON COLUMN analytics.chat_errors_daily.tenant_id IS 'The tenant.';
COMMENT ON COLUMN analytics.chat_errors_daily.agent_id IS 'The agent.';
COMMENT ON COLUMN analytics.chat_errors_daily.day IS 'The UTC day of the answers.';
COMMENT ON COLUMN analytics.chat_errors_daily.answers IS 'Agent answers that day.';
COMMENT ON COLUMN analytics.chat_errors_daily.errors IS 'Answers that failed or that no model could give.';
