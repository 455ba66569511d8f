-- Dashboard users, projected from UserCreated / UserPasswordChanged on revos.admin. An email signs in
-- to one user in all of Revos: the second of two users recorded with one email is not projected (the
-- sign-up that recorded it waits for its user and reports the address as taken).
CREATE TABLE users (
    user_id          text        PRIMARY KEY,
    tenant_id        text        NOT NULL,
    email            text        NOT NULL UNIQUE,
    password_hash    text        NOT NULL,
    created_at       timestamptz NOT NULL,
    created_by       text        NOT NULL,
    password_event   text        NOT NULL,  -- the record that set the current password
    password_set_at  timestamptz NOT NULL
);
CREATE INDEX users_tenant ON users (tenant_id);

-- Signed-in dashboard sessions. Written by gateways (like rate-limit buckets), not by a projection: a
-- session is the gateway's own state, and a rebuild of the projections must not sign everyone out.
-- Only a hash of the cookie's token is kept.
CREATE TABLE login_sessions (
    token_hash   text        PRIMARY KEY,
    user_id      text        NOT NULL,
    tenant_id    text        NOT NULL,
    csrf_token   text        NOT NULL,
    created_at   timestamptz NOT NULL,
    seen_at      timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL
);
CREATE INDEX login_sessions_user ON login_sessions (user_id);
CREATE INDEX login_sessions_expiry ON login_sessions (expires_at);
