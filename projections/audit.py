"""The audit projection: appends to each tenant's hash chain; and the reads behind /v1/audit and verify."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

from pipeline import audit
from pipeline.records import AuditRecorded

LAST = """
SELECT * FROM audit_log WHERE tenant_id = $1 ORDER BY seq DESC LIMIT 1
"""
EXISTS = "SELECT 1 FROM audit_log WHERE audit_id = $1"
INSERT = """
INSERT INTO audit_log (tenant_id, seq, audit_id, actor, action, target, before, after, request_id, occurred_at,
                       prev_hash, hash)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
"""
# An API-key actor is recorded as `key:<key id>`; the page shows the key's display prefix beside it.
PAGE = """
SELECT a.seq, a.audit_id, a.actor, k.prefix AS actor_key_prefix, a.action, a.target, a.before, a.after,
       a.request_id, a.occurred_at, a.hash
FROM audit_log a
LEFT JOIN api_keys k ON k.tenant_id = a.tenant_id AND a.actor = 'key:' || k.key_id
WHERE a.tenant_id = $1 AND ($2::text IS NULL OR a.target = $2) AND ($3::text IS NULL OR a.action = $3)
  AND ($4::timestamptz IS NULL OR a.occurred_at >= $4) AND a.seq > $5
ORDER BY a.seq LIMIT $6
"""
CHAIN = "SELECT * FROM audit_log WHERE tenant_id = $1 ORDER BY seq"
TENANTS = "SELECT DISTINCT tenant_id FROM audit_log ORDER BY tenant_id"


def _entry(row: asyncpg.Record) -> audit.Entry:
    return audit.Entry(**dict(row))


async def append(conn: asyncpg.Connection, r: AuditRecorded) -> None:
    """Append `r` to its tenant's chain once; a redelivered record is recognised by its id."""
    if await conn.fetchval(EXISTS, r.audit_id):
        return
    last = await conn.fetchrow(LAST, r.tenant_id)
    e = audit.append(None if last is None else _entry(last), r)
    await conn.execute(
        INSERT, e.tenant_id, e.seq, e.audit_id, e.actor, e.action, e.target, e.before, e.after,
        e.request_id, e.occurred_at, e.prev_hash, e.hash,
    )  # fmt: skip


async def page(
    pool: asyncpg.Pool,
    tenant_id: str,
    *,
    target: str | None,
    action: str | None,
    since: datetime | None,
    after_seq: int,
    limit: int,
) -> list[dict[str, Any]]:
    return [dict(r) for r in await pool.fetch(PAGE, tenant_id, target, action, since, after_seq, limit)]


async def verify(pool: asyncpg.Pool, tenant_id: str | None) -> list[tuple[str, dict[str, Any] | None, int]]:
    """For each tenant (or the one given): the first broken entry or None, and how many entries were read."""
    tenants = [tenant_id] if tenant_id else [r["tenant_id"] for r in await pool.fetch(TENANTS)]
    results = []
    for t in tenants:
        rows = [dict(r) for r in await pool.fetch(CHAIN, t)]
        broken = audit.first_broken(rows)
        results.append((t, None if broken is None else dict(broken), len(rows)))
    return results
