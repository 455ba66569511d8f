"""Tenants and API keys: writers fed by the admin topic, and the lookups the gateway needs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg

from pipeline.records import ApiKeyIssued, ApiKeyRevoked, TenantCreated

KEYS_CHANNEL = "revos_api_keys"  # notified with a key id when a key is revoked (gateway/http/auth.py listens)

INSERT_TENANT = """
INSERT INTO tenants (tenant_id, name, created_at, created_by) VALUES ($1, $2, $3, $4)
ON CONFLICT (tenant_id) DO NOTHING
"""

INSERT_KEY = """
INSERT INTO api_keys (key_id, tenant_id, prefix, key_hash, created_at, scope) VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (key_id) DO NOTHING
"""

# The earliest revocation wins: a rotation's grace can never bring a revoked key back.
REVOKE_KEY = """
UPDATE api_keys SET revoked_at = $3
WHERE tenant_id = $1 AND key_id = $2 AND (revoked_at IS NULL OR revoked_at > $3)
"""

# Whether revoking the key would leave its tenant without an admin key that is not being revoked, and
# without a dashboard user (who can always issue another key, so cannot be locked out). The admin topic
# is keyed by tenant, so one writer applies a tenant's records (its users' too) in the log's order: two
# revocations racing each other are decided here, one after the other, never both let through.
LAST_ADMIN_KEY = """
SELECT EXISTS (SELECT 1 FROM api_keys WHERE tenant_id = $1 AND key_id = $2 AND revoked_at IS NULL AND scope = 'admin')
   AND NOT EXISTS (SELECT 1 FROM api_keys
                   WHERE tenant_id = $1 AND key_id <> $2 AND revoked_at IS NULL AND scope = 'admin')
   AND NOT EXISTS (SELECT 1 FROM users WHERE tenant_id = $1)
"""
REFUSE_REVOCATION = """
INSERT INTO api_key_revocations_refused (event_id, tenant_id, key_id, refused_at) VALUES ($1, $2, $3, $4)
ON CONFLICT (event_id) DO NOTHING
"""
REFUSED_BEFORE = "SELECT 1 FROM api_key_revocations_refused WHERE event_id = $1"
# Held to the end of the transaction: whoever applies a tenant's revocations, they are decided one at a time.
LOCK_TENANT = "SELECT 1 FROM tenants WHERE tenant_id = $1 FOR UPDATE"

FIND_KEY = """
SELECT k.key_id, k.tenant_id, k.prefix, k.revoked_at, k.scope FROM api_keys k
WHERE k.key_hash = $1 AND (k.revoked_at IS NULL OR k.revoked_at > clock_timestamp())
"""

KEYS = """
SELECT key_id, prefix, scope, created_at, revoked_at FROM api_keys WHERE tenant_id = $1
ORDER BY created_at, key_id
"""
KEY = (
    "SELECT key_id, prefix, scope, created_at, revoked_at FROM api_keys WHERE tenant_id = $1 AND key_id = $2"
)
# For waiting on a write: the key exists / is revoked no later than asked (or the revocation refused,
# $4 being its event id: `refused` says which).
ISSUED = "SELECT 1 FROM api_keys WHERE tenant_id = $1 AND key_id = $2"
REVOKED = """
SELECT false AS refused FROM api_keys WHERE tenant_id = $1 AND key_id = $2 AND revoked_at <= $3
UNION ALL SELECT true FROM api_key_revocations_refused WHERE event_id = $4
"""


@dataclass(frozen=True, slots=True)
class Caller:
    """Who makes a request: an API key, or a dashboard user signed in (`user_id`, and no key)."""

    key_id: str
    tenant_id: str
    prefix: str
    revoked_at: datetime | None = None  # a rotated key's end
    scope: str = "admin"
    user_id: str | None = None

    @property
    def actor(self) -> str:
        """Who the audit log and the records name for what this caller does."""
        return f"key:{self.key_id}" if self.user_id is None else f"user:{self.user_id}"

    @classmethod
    def user(cls, user_id: str, tenant_id: str) -> Caller:
        """A dashboard user: as an admin key of the tenant, with the user as the actor."""
        return cls(key_id="", tenant_id=tenant_id, prefix="", user_id=user_id)


async def create_tenant(conn: asyncpg.Connection, r: TenantCreated) -> None:
    await conn.execute(INSERT_TENANT, r.tenant_id, r.name, r.occurred_at, r.actor)


async def issue_key(conn: asyncpg.Connection, r: ApiKeyIssued) -> None:
    await conn.execute(INSERT_KEY, r.key_id, r.tenant_id, r.prefix, r.key_hash, r.occurred_at, r.scope)


async def revoke_key(conn: asyncpg.Connection, r: ApiKeyRevoked) -> None:
    """Apply a revocation, unless it would take the tenant's last admin key: then it is refused (and
    stays refused when the record comes again, whatever happened since)."""
    await conn.execute(LOCK_TENANT, r.tenant_id)
    if await conn.fetchval(REFUSED_BEFORE, r.event_id):
        return
    if await conn.fetchval(LAST_ADMIN_KEY, r.tenant_id, r.key_id):
        await conn.execute(REFUSE_REVOCATION, r.event_id, r.tenant_id, r.key_id, r.occurred_at)
        return
    await conn.execute(REVOKE_KEY, r.tenant_id, r.key_id, r.revoke_at)
    # Delivered when the transaction commits: every gateway drops its cached keys.
    await conn.execute("SELECT pg_notify($1, $2)", KEYS_CHANNEL, r.key_id)


async def find_key(conn: asyncpg.Connection | asyncpg.Pool, key_hash: str) -> Caller | None:
    """The live key with this hash (not revoked, or revoked later than now)."""
    row = await conn.fetchrow(FIND_KEY, key_hash)
    if row is None:
        return None
    return Caller(row["key_id"], row["tenant_id"], row["prefix"], row["revoked_at"], row["scope"])


async def keys(pool: asyncpg.Pool, tenant_id: str) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await pool.fetch(KEYS, tenant_id)
    return rows


async def key(pool: asyncpg.Pool, tenant_id: str, key_id: str) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await pool.fetchrow(KEY, tenant_id, key_id)
    return row
