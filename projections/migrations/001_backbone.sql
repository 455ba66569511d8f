-- Projections of the event backbone. Every table here is written only by a projection writer
-- fed by the log, and can be rebuilt by replaying it (see docs/operations.md).

CREATE TABLE stream_offsets (
    consumer    text    NOT NULL,
    topic       text    NOT NULL,
    partition   integer NOT NULL,
    next_offset bigint  NOT NULL,
    PRIMARY KEY (consumer, topic, partition)
);

CREATE TABLE tenants (
    tenant_id  text PRIMARY KEY,
    name       text NOT NULL,
    created_at timestamptz NOT NULL,
    created_by text NOT NULL
);

CREATE TABLE api_keys (
    key_id     text PRIMARY KEY,
    tenant_id  text NOT NULL REFERENCES tenants (tenant_id),
    prefix     text NOT NULL,
    key_hash   text NOT NULL UNIQUE,
    created_at timestamptz NOT NULL,
    revoked_at timestamptz
);

CREATE TABLE burn_table_versions (
    tenant_id    text        NOT NULL,
    name         text        NOT NULL,
    version      integer     NOT NULL,
    effective_at timestamptz NOT NULL,
    rules        jsonb       NOT NULL,
    event_id     text        NOT NULL,
    published_at timestamptz NOT NULL,
    published_by text        NOT NULL,
    PRIMARY KEY (tenant_id, name, version)
);

-- Which billing partitions have seen which versions: each partition prices only with versions
-- that precede the usage in its own log, which is what makes charges replay-deterministic.
CREATE TABLE burn_table_partitions (
    tenant_id text    NOT NULL,
    name      text    NOT NULL,
    version   integer NOT NULL,
    topic     text    NOT NULL,
    partition integer NOT NULL,
    PRIMARY KEY (topic, partition, tenant_id, name, version)
);

CREATE TABLE customers (
    tenant_id  text    NOT NULL,
    customer   text    NOT NULL,
    debt       numeric NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, customer)
);

CREATE TABLE grants (
    tenant_id    text        NOT NULL,
    customer     text        NOT NULL,
    grant_id     text        NOT NULL,
    amount       numeric     NOT NULL,
    remaining    numeric     NOT NULL,
    priority     integer     NOT NULL,
    effective_at timestamptz NOT NULL,
    expires_at   timestamptz,
    reason       text,
    granted_at   timestamptz NOT NULL,
    granted_by   text        NOT NULL,
    event_id     text        NOT NULL,
    PRIMARY KEY (tenant_id, customer, grant_id)
);

CREATE TABLE charges (
    tenant_id          text        NOT NULL,
    event_id           text        NOT NULL,
    customer           text        NOT NULL,
    type               text        NOT NULL,
    quantity           numeric     NOT NULL,
    credits            numeric     NOT NULL,
    cost               numeric,
    burn_table         text        NOT NULL,
    burn_table_version integer     NOT NULL,
    event_time         timestamptz NOT NULL,
    received_at        timestamptz,
    allocations        jsonb       NOT NULL,
    topic              text        NOT NULL,
    partition          integer     NOT NULL,
    "offset"           bigint      NOT NULL,
    applied_at         timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (tenant_id, event_id)
);
CREATE INDEX charges_by_customer ON charges (tenant_id, customer, event_time DESC, event_id DESC);

CREATE TABLE dead_letters (
    dead_letter_id     text PRIMARY KEY,
    topic              text        NOT NULL,
    stage              text        NOT NULL,
    code               text        NOT NULL,
    error_class        text        NOT NULL,
    message            text        NOT NULL,
    stack              text        NOT NULL,
    tenant_id          text,
    event_id           text,
    source_topic       text,
    source_partition   integer,
    source_offset      bigint,
    source_timestamp   timestamptz,
    key                bytea,
    value              bytea       NOT NULL,
    headers            jsonb       NOT NULL,
    attempts           integer     NOT NULL,
    replay_count       integer     NOT NULL,
    first_failed_at    timestamptz NOT NULL,
    last_failed_at     timestamptz NOT NULL,
    app_version        text        NOT NULL,
    schema_fingerprint text,
    replays            integer     NOT NULL DEFAULT 0,
    last_replayed_at   timestamptz
);
CREATE INDEX dead_letters_by_time ON dead_letters (last_failed_at);
