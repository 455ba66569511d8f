-- AI assistants ("agents" in the API) and their conversations. `assistants` is written by the admin
-- writer from AssistantChanged records; `conversations` and `chat_messages` by the chat writer from
-- ChatMessageRecorded records.

CREATE TABLE assistants (
    tenant_id       text        NOT NULL,
    agent_id        text        NOT NULL,
    name            text        NOT NULL,
    system_prompt   text        NOT NULL,
    model           text        NOT NULL,
    fallback_models text[]      NOT NULL DEFAULT '{}',
    temperature     double precision,
    tools           jsonb       NOT NULL DEFAULT '[]',  -- secrets included: never return this column as is
    allowed_domains text[]      NOT NULL DEFAULT '{}',
    branding        jsonb       NOT NULL DEFAULT '{}',
    customer        text        NOT NULL,
    template        text,
    event_id        text        NOT NULL,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    deleted_at      timestamptz,
    PRIMARY KEY (tenant_id, agent_id)
);

CREATE TABLE conversations (
    tenant_id       text        NOT NULL,
    conversation_id text        NOT NULL,
    agent_id        text        NOT NULL,
    visitor_id      text,
    origin          text,
    started_at      timestamptz NOT NULL,
    last_message_at timestamptz NOT NULL,
    last_seq        bigint      NOT NULL,
    PRIMARY KEY (tenant_id, conversation_id)
);
CREATE INDEX conversations_by_agent ON conversations (tenant_id, agent_id, started_at DESC);
CREATE INDEX conversations_by_time ON conversations (tenant_id, started_at DESC);

CREATE TABLE chat_messages (
    tenant_id         text        NOT NULL,
    conversation_id   text        NOT NULL,
    seq               bigint      NOT NULL,
    message_id        text        NOT NULL,
    agent_id          text        NOT NULL,
    role              text        NOT NULL,
    content           text        NOT NULL,
    status            text        NOT NULL,
    client_message_id text,
    reply_to          bigint,
    model             text,
    latency_ms        bigint,
    first_token_ms    bigint,
    input_tokens      bigint,
    output_tokens     bigint,
    tool_calls        jsonb,
    tool_name         text,
    tool_call_id      text,
    occurred_at       timestamptz NOT NULL,
    recorded_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (tenant_id, conversation_id, seq)
);
CREATE UNIQUE INDEX chat_messages_client_id ON chat_messages (tenant_id, conversation_id, client_message_id)
    WHERE client_message_id IS NOT NULL;
CREATE INDEX chat_messages_by_time ON chat_messages (tenant_id, occurred_at);
