-- API key scopes: what a key may do (admin: everything; ingest: metering only). Keys issued before
-- scopes existed were all-powerful, and stay so.
ALTER TABLE api_keys ADD COLUMN scope text NOT NULL DEFAULT 'admin' CHECK (scope IN ('admin', 'ingest'));

-- Revocations the admin writer refused because they would have left the tenant without an admin key
-- (two revocations racing each other: the log's order decides, the later one is refused). The gateway
-- that asked waits for the revocation to show in api_keys or here.
CREATE TABLE api_key_revocations_refused (
    event_id   text        PRIMARY KEY,
    tenant_id  text        NOT NULL,
    key_id     text        NOT NULL,
    refused_at timestamptz NOT NULL
);
