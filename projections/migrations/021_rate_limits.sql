-- Rate-limit buckets shared by every gateway process (GCRA: a bucket is the time its tokens are all
-- back). Written by gateways, not by a projection; a row whose tat has passed is a full bucket, the same
-- as no row, and the gateways delete such rows (projections/rate_limits.py).
CREATE TABLE rate_limits (
    scope    text        NOT NULL,
    key      text        NOT NULL,
    tat      timestamptz NOT NULL,
    granted  integer     NOT NULL,
    PRIMARY KEY (scope, key)
);
CREATE INDEX rate_limits_tat ON rate_limits (tat);
