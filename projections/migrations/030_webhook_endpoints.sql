-- Alert webhooks: a tenant's endpoints (written by the admin writer from WebhookEndpointChanged), their
-- deliveries in the same queue as the voice status webhooks (`webhook_deliveries`, a row per endpoint and
-- fact, added by the writer that applies the fact, in its transaction), and each endpoint's failure
-- streak (`webhook_endpoint_health`, kept by the worker's sender: not a projection).

CREATE TABLE webhook_endpoints (
    tenant_id       text        NOT NULL,
    endpoint_id     text        NOT NULL,
    url             text        NOT NULL,
    event_types     text[]      NOT NULL,
    description     text,
    enabled         boolean     NOT NULL,
    disabled_reason text,
    secret          text        NOT NULL,  -- sealed by the gateway: never return it
    event_id        text        NOT NULL,  -- the last record applied (read your writes)
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    deleted_at      timestamptz,
    PRIMARY KEY (tenant_id, endpoint_id)
);
CREATE INDEX webhook_endpoints_enabled ON webhook_endpoints (tenant_id)
    WHERE enabled AND deleted_at IS NULL;

-- A delivery belongs to an agent's status webhook (agent_id) or to an alert endpoint (endpoint_id).
ALTER TABLE webhook_deliveries ALTER COLUMN agent_id DROP NOT NULL;
ALTER TABLE webhook_deliveries ADD COLUMN endpoint_id text;
ALTER TABLE webhook_deliveries ADD COLUMN redelivered_at timestamptz;  -- retries count from here then
ALTER TABLE webhook_deliveries ADD COLUMN redelivery_event_id text;
ALTER TABLE webhook_deliveries ADD CONSTRAINT webhook_deliveries_owner
    CHECK ((agent_id IS NULL) <> (endpoint_id IS NULL));
CREATE INDEX webhook_deliveries_of_endpoint ON webhook_deliveries (tenant_id, endpoint_id, created_at DESC)
    WHERE endpoint_id IS NOT NULL;

CREATE TABLE webhook_endpoint_health (
    tenant_id     text        NOT NULL,
    endpoint_id   text        NOT NULL,
    failing_since timestamptz,           -- the first failed attempt since the last 2xx answer
    failures      integer     NOT NULL DEFAULT 0,
    last_success  timestamptz,
    disabled_at   timestamptz,           -- when the sender disabled it (cleared when a tenant re-enables it)
    PRIMARY KEY (tenant_id, endpoint_id)
);
