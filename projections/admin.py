"""Tenants and API keys: writers fed by the admin topic, and the lookups the gateway needs."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from pipeline.records import ApiKeyIssued, TenantCreated

INSERT_TENANT = """
INSERT INTO tenants (tenant_id, name, created_at, created_by) VALUES ($1, $2, $3, $4)
ON CONFLICT (tenant_id) DO NOTHING
"""

INSERT_KEY = """
INSERT INTO api_keys (key_id, tenant_id, prefix, key_hash, created_at) VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (key_id) DO NOTHING
"""

FIND_KEY = """
SELECT k.key_id, k.tenant_id, k.prefix FROM api_keys k
WHERE k.key_hash = $1 AND k.revoked_at IS NULL
"""


@dataclass(frozen=True, slots=True)
class KeyIdentity:
    key_id: str
    tenant_id: str
    prefix: str


async def create_tenant(conn: asyncpg.Connection, r: TenantCreated) -> None:
    await conn.execute(INSERT_TENANT, r.tenant_id, r.name, r.occurred_at, r.actor)


async def issue_key(conn: asyncpg.Connection, r: ApiKeyIssued) -> None:
    await conn.execute(INSERT_KEY, r.key_id, r.tenant_id, r.prefix, r.key_hash, r.occurred_at)


async def find_key(conn: asyncpg.Connection | asyncpg.Pool, key_hash: str) -> KeyIdentity | None:
    row = await conn.fetchrow(FIND_KEY, key_hash)
    return None if row is None else KeyIdentity(row["key_id"], row["tenant_id"], row["prefix"])
