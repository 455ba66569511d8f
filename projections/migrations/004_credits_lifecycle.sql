-- Credits you can trust: the ledger, grant expiry and voids, usage corrections, entitlements,
-- low-balance alerts and partition watermarks. Written only by the billing projection.

-- Every movement of a customer's credits, in log order, with the running balance after it.
-- kind: grant | charge | expiry | void | correction | debt_settlement; amount is the signed
-- change to the balance (debt_settlement: 0, with detail.settled).
CREATE TABLE ledger_entries (
    tenant_id   text        NOT NULL,
    customer    text        NOT NULL,
    seq         bigint      NOT NULL,
    kind        text        NOT NULL,
    amount      numeric     NOT NULL,
    balance     numeric     NOT NULL,
    reference   text        NOT NULL,
    at          timestamptz NOT NULL,
    detail      jsonb       NOT NULL DEFAULT '{}',
    recorded_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (tenant_id, customer, seq)
);

ALTER TABLE customers
    ADD COLUMN ledger_seq       bigint    NOT NULL DEFAULT 0,
    ADD COLUMN ledger_balance   numeric   NOT NULL DEFAULT 0,
    ADD COLUMN alert_thresholds numeric[] NOT NULL DEFAULT '{}',
    ADD COLUMN alerts_fired     numeric[] NOT NULL DEFAULT '{}';

-- status: active | expired | voided; closed_at is when it stopped being active.
ALTER TABLE grants
    ADD COLUMN status    text NOT NULL DEFAULT 'active',
    ADD COLUMN closed_at timestamptz;
-- What the expiry scheduler looks for: active grants by expiry time.
CREATE INDEX grants_expiring ON grants (expires_at) WHERE status = 'active' AND expires_at IS NOT NULL;

-- A charge as it stands after corrections; `original` keeps the first-charged figures once corrected.
ALTER TABLE charges
    ADD COLUMN properties   jsonb NOT NULL DEFAULT '{}',
    ADD COLUMN status       text  NOT NULL DEFAULT 'charged',
    ADD COLUMN original     jsonb,
    ADD COLUMN corrected_at timestamptz;

-- Every void and amend, and what came of it: applied, unchanged (already voided) or rejected.
CREATE TABLE corrections (
    tenant_id      text        NOT NULL,
    correction_id  text        NOT NULL,
    event_id       text        NOT NULL,
    customer       text        NOT NULL,
    action         text        NOT NULL,
    status         text        NOT NULL,
    code           text,
    message        text,
    quantity       numeric,
    properties     jsonb,
    credits_before numeric,
    credits_after  numeric,
    actor          text        NOT NULL,
    occurred_at    timestamptz NOT NULL,
    applied_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (tenant_id, correction_id)
);
CREATE INDEX corrections_by_event ON corrections (tenant_id, event_id, occurred_at);

-- kind: boolean (enabled) | limit (limit) | metered (event_type, match, allowance, period).
CREATE TABLE entitlements (
    tenant_id  text        NOT NULL,
    customer   text        NOT NULL,
    feature    text        NOT NULL,
    kind       text        NOT NULL,
    enabled    boolean,
    "limit"    numeric,
    event_type text,
    match      jsonb       NOT NULL DEFAULT '{}',
    allowance  numeric,
    period     text,
    event_id   text        NOT NULL,
    updated_by text        NOT NULL,
    updated_at timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, customer, feature)
);

-- Usage counted against metered entitlements, per UTC day or calendar month.
CREATE TABLE usage_counters (
    tenant_id    text        NOT NULL,
    customer     text        NOT NULL,
    feature      text        NOT NULL,
    period_start timestamptz NOT NULL,
    used         numeric     NOT NULL,
    PRIMARY KEY (tenant_id, customer, feature, period_start)
);

-- balance.threshold_crossed, one row per crossing.
CREATE TABLE alerts (
    alert_id    text        PRIMARY KEY,
    tenant_id   text        NOT NULL,
    customer    text        NOT NULL,
    kind        text        NOT NULL DEFAULT 'balance.threshold_crossed',
    threshold   numeric     NOT NULL,
    balance     numeric     NOT NULL,
    ledger_seq  bigint      NOT NULL,
    occurred_at timestamptz NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX alerts_by_customer ON alerts (tenant_id, customer, ledger_seq);

-- The newest watermark each billing partition has applied: every record accepted on that
-- partition before emitted_at is reflected in the projections.
CREATE TABLE watermarks (
    topic      text        NOT NULL,
    partition  integer     NOT NULL,
    emitted_at timestamptz NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (topic, partition)
);
