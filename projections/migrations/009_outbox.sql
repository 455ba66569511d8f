-- The transactional outbox: what the gateway acknowledged, kept in PostgreSQL until a stream processor
-- has applied it. The relay publishes rows to the broker in commit order (txid, then id); the transaction
-- that applies a record deletes its row, so a row still here is acknowledged but not yet applied, and a
-- broker that lost its log gets every one of them again.
CREATE TABLE outbox (
    id             bigserial   PRIMARY KEY,
    txid           xid8        NOT NULL DEFAULT pg_current_xact_id(),
    topic          text        NOT NULL,
    partition      integer,                 -- NULL: the producer partitions by key
    key            bytea,
    value          bytea       NOT NULL,
    header_names   text[]      NOT NULL DEFAULT '{}',
    header_values  bytea[]     NOT NULL DEFAULT '{}',
    created_at     timestamptz NOT NULL DEFAULT now(),
    -- The scheduler's watermarks and expiries: made again from PostgreSQL's state if lost, and written
    -- every 250 ms, so a drain or an operator counting what is acknowledged and not applied skips them.
    regenerable    boolean     NOT NULL DEFAULT false
);
CREATE INDEX outbox_commit_order ON outbox (txid, id);

-- How far the relay has published, in the broker log it published to. Rewound to the start when the
-- broker's log is new, so every row still in the outbox is published again. `origin` names this
-- database's outbox in the records it publishes: a database rebuilt from the same log applies them all,
-- while this one skips a record whose row is gone (applied before, published twice).
CREATE TABLE outbox_relay (
    singleton   boolean     PRIMARY KEY DEFAULT true CHECK (singleton),
    origin      uuid        NOT NULL DEFAULT gen_random_uuid(),
    txid        xid8        NOT NULL DEFAULT '0',
    last_id     bigint      NOT NULL DEFAULT 0,
    rewound_at  timestamptz,
    log_marked  boolean     NOT NULL DEFAULT false  -- the broker's log has had its mark topic (revos.log)
);
INSERT INTO outbox_relay DEFAULT VALUES;

-- Every time Revos found the broker's log new while projections held offsets of an earlier one: the
-- broker lost what it held. Shown by `revos infra status`; with the outbox nothing acknowledged was lost.
CREATE TABLE broker_log_losses (
    id                   bigserial   PRIMARY KEY,
    found_at             timestamptz NOT NULL DEFAULT now(),
    topics               text[]      NOT NULL,
    forgotten_offsets    integer     NOT NULL,
    outbox_republished   bigint                -- NULL: the outbox was off; unapplied records were lost
);
