-- Voice: an assistant's phone line (in the AssistantChanged record, v2), the tenant's Twilio account,
-- and calls. `calls` and `call_events` are written by the voice writer from CallEventRecorded records;
-- a call's spoken turns are chat messages of its conversation (`calls.conversation_id`).

ALTER TABLE assistants ADD COLUMN voice jsonb;  -- the webhook's signing secret is sealed: never return as is
ALTER TABLE assistants ADD COLUMN phone_number text GENERATED ALWAYS AS (voice ->> 'phone_number') STORED;
CREATE INDEX assistants_by_phone_number ON assistants (phone_number)
    WHERE phone_number IS NOT NULL AND deleted_at IS NULL;

CREATE TABLE voice_providers (
    tenant_id   text        PRIMARY KEY,
    provider    text        NOT NULL,
    account_sid text        NOT NULL,
    auth_token  text        NOT NULL,  -- sealed by the gateway: never return it
    event_id    text        NOT NULL,
    updated_at  timestamptz NOT NULL
);

CREATE TABLE calls (
    tenant_id        text        NOT NULL,
    call_sid         text        NOT NULL,
    agent_id         text        NOT NULL,
    conversation_id  text,
    from_number      text,
    to_number        text,
    customer         text,
    state            text,
    state_at         timestamptz,
    started_at       timestamptz NOT NULL,  -- the earliest fact about the call
    answered_at      timestamptz,           -- the relay socket connected
    ended_at         timestamptz,           -- the first fact that the call is over
    duration_seconds bigint,
    end_reason       text,
    end_detail       text,
    PRIMARY KEY (tenant_id, call_sid)
);
CREATE INDEX calls_by_time ON calls (tenant_id, started_at DESC, call_sid DESC);
CREATE INDEX calls_by_agent ON calls (tenant_id, agent_id, started_at DESC);
CREATE INDEX calls_by_conversation ON calls (tenant_id, conversation_id) WHERE conversation_id IS NOT NULL;

CREATE TABLE call_events (
    tenant_id        text        NOT NULL,
    event_id         text        NOT NULL,
    call_sid         text        NOT NULL,
    kind             text        NOT NULL,
    state            text,
    occurred_at      timestamptz NOT NULL,
    end_reason       text,
    detail           text,
    reply_to         bigint,
    heard            text,
    heard_ms         bigint,
    duration_seconds bigint,
    recorded_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (tenant_id, event_id)
);
CREATE INDEX call_events_by_call ON call_events (tenant_id, call_sid, occurred_at);
