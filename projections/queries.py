"""Read queries used by the gateway; every one is scoped to a tenant."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

CUSTOMER = "SELECT debt, updated_at FROM customers WHERE tenant_id = $1 AND customer = $2"

GRANTS = """
SELECT grant_id, amount, remaining, priority, effective_at, expires_at, reason, granted_at
FROM grants WHERE tenant_id = $1 AND customer = $2
ORDER BY priority DESC, expires_at ASC NULLS LAST, effective_at, grant_id
"""

GRANT = """
SELECT grant_id, amount, remaining, priority, effective_at, expires_at, reason, granted_at
FROM grants WHERE tenant_id = $1 AND customer = $2 AND grant_id = $3
"""

GRANT_EXISTS = "SELECT 1 FROM grants WHERE tenant_id = $1 AND customer = $2 AND grant_id = $3"

CHARGES = """
SELECT event_id, type, quantity, credits, cost, burn_table, burn_table_version, event_time, allocations
FROM charges
WHERE tenant_id = $1 AND customer = $2
  AND ($3::timestamptz IS NULL OR (event_time, event_id) < ($3, $4))
ORDER BY event_time DESC, event_id DESC
LIMIT $5
"""

LATEST_VERSION = "SELECT max(version) FROM burn_table_versions WHERE tenant_id = $1 AND name = $2"
VERSION_EXISTS = "SELECT 1 FROM burn_table_versions WHERE tenant_id = $1 AND name = $2 AND version = $3"
BURN_TABLE = """
SELECT name, version, effective_at, rules, published_at FROM burn_table_versions
WHERE tenant_id = $1 AND name = $2 ORDER BY version DESC LIMIT $3
"""


async def customer(pool: asyncpg.Pool, tenant_id: str, name: str) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await pool.fetchrow(CUSTOMER, tenant_id, name)
    return row


async def grants(pool: asyncpg.Pool, tenant_id: str, name: str) -> list[dict[str, Any]]:
    return [dict(r) for r in await pool.fetch(GRANTS, tenant_id, name)]


async def grant(pool: asyncpg.Pool, tenant_id: str, name: str, grant_id: str) -> dict[str, Any] | None:
    row = await pool.fetchrow(GRANT, tenant_id, name, grant_id)
    return None if row is None else dict(row)


async def charges(
    pool: asyncpg.Pool, tenant_id: str, name: str, *, before: tuple[datetime, str] | None, limit: int
) -> list[dict[str, Any]]:
    at, event_id = before if before else (None, None)
    return [dict(r) for r in await pool.fetch(CHARGES, tenant_id, name, at, event_id, limit)]


async def burn_table_versions(
    pool: asyncpg.Pool, tenant_id: str, name: str, limit: int
) -> list[dict[str, Any]]:
    return [dict(r) for r in await pool.fetch(BURN_TABLE, tenant_id, name, limit)]
