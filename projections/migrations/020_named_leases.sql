-- Short named leases that gateways take instead of holding a pooled connection for a session-level
-- advisory lock (a burn table being given its next version number, say). Written by gateways, not by a
-- projection; a holder that dies leaves a lease that lapses at expires_at.
CREATE TABLE named_leases (
    name        text        PRIMARY KEY,
    holder      text        NOT NULL,
    expires_at  timestamptz NOT NULL
);
