-- Status webhooks waiting to be delivered (or delivered, or given up on): the voice writer adds a row in
-- the transaction that changes the call, the worker's delivery loop sends it (agents/webhooks.py).
-- `webhook_id` is stable per call and event type, so a record applied again adds nothing.

CREATE TABLE webhook_deliveries (
    tenant_id       text        NOT NULL,
    webhook_id      text        NOT NULL,  -- the webhook-id header of every attempt
    agent_id        text        NOT NULL,
    url             text        NOT NULL,
    event_type      text        NOT NULL,  -- call.started | call.ended | call.failed
    payload         jsonb       NOT NULL,
    attempts        integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL,  -- while one is being sent: when its claim lapses
    delivered_at    timestamptz,
    failed_at       timestamptz,           -- given up on
    last_status     integer,               -- the HTTP status of the last answer
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (tenant_id, webhook_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at)
    WHERE delivered_at IS NULL AND failed_at IS NULL;
