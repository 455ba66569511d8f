-- Short-lived holds on credits, placed or denied by the billing fold in log order.
-- status: placed | denied | consumed (the usage it was for was charged) | released | expired.
CREATE TABLE holds (
    tenant_id   text        NOT NULL,
    hold_id     text        NOT NULL,
    customer    text        NOT NULL,
    credits     numeric     NOT NULL,
    expires_at  timestamptz NOT NULL,
    event_id    text,
    status      text        NOT NULL,
    actor       text        NOT NULL,
    occurred_at timestamptz NOT NULL,
    decided_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    ended_at    timestamptz,
    PRIMARY KEY (tenant_id, hold_id)
);
CREATE INDEX holds_placed ON holds (tenant_id, customer) WHERE status = 'placed';
