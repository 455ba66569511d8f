"""The audit projection: appends to each tenant's hash chain; and the reads behind /v1/audit and verify."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

from pipeline.admin import audit
from pipeline.records import AuditRecorded

LAST = "SELECT seq, hash FROM audit_log WHERE tenant_id = $1 ORDER BY seq DESC LIMIT 1"
EXISTS = "SELECT 1 FROM audit_log WHERE audit_id = $1"
INSERT = """
INSERT INTO audit_log (tenant_id, seq, audit_id, actor, action, target, before_text, after_text, request_id,
                       occurred_at, prev_hash, hash, key_id, chain_version)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, 2)
"""
# An API-key actor is recorded as `key:<key id>`; the page shows the key's display prefix beside it.
# Keyed entries keep before/after as the JSON text they were sealed over; legacy ones as jsonb.
_ENTRIES = """
SELECT a.seq, a.audit_id, a.actor, k.prefix AS actor_key_prefix, a.action, a.target,
       CASE WHEN a.chain_version = 1 THEN a.before ELSE a.before_text::jsonb END AS before,
       CASE WHEN a.chain_version = 1 THEN a.after ELSE a.after_text::jsonb END AS after,
       a.request_id, a.occurred_at, a.hash
FROM audit_log a
LEFT JOIN api_keys k ON k.tenant_id = a.tenant_id AND a.actor = 'key:' || k.key_id
WHERE a.tenant_id = $1 AND ($2::text IS NULL OR a.target = $2) AND ($3::text IS NULL OR a.action = $3)
  AND ($4::timestamptz IS NULL OR a.occurred_at >= $4)
"""
PAGE = _ENTRIES + "AND a.seq > $5 ORDER BY a.seq LIMIT $6"
NEWEST_PAGE = _ENTRIES + "AND a.seq < $5 ORDER BY a.seq DESC LIMIT $6"  # the dashboard's order
ACTIONS = "SELECT DISTINCT action FROM audit_log WHERE tenant_id = $1 ORDER BY action"
CHAIN = "SELECT * FROM audit_log WHERE tenant_id = $1 ORDER BY seq"
TENANTS = "SELECT DISTINCT tenant_id FROM audit_log ORDER BY tenant_id"


async def append(conn: asyncpg.Connection, r: AuditRecorded, seal: audit.Seal) -> audit.Head | None:
    """Append `r` to its tenant's chain once; the new head, or None for a redelivered record."""
    if await conn.fetchval(EXISTS, r.audit_id):
        return None
    last = await conn.fetchrow(LAST, r.tenant_id)
    e = audit.append(None if last is None else audit.Head(last["seq"], last["hash"]), r, seal)
    await conn.execute(
        INSERT, e.tenant_id, e.seq, e.audit_id, e.actor, e.action, e.target, e.before_text, e.after_text,
        e.request_id, e.occurred_at, e.prev_hash, e.hash, e.key_id,
    )  # fmt: skip
    return audit.Head(e.seq, e.hash)


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


async def newest_page(
    pool: asyncpg.Pool,
    tenant_id: str,
    *,
    target: str | None,
    action: str | None,
    since: datetime | None,
    before_seq: int,
    limit: int,
) -> list[dict[str, Any]]:
    """`page`'s entries newest first: those before `before_seq`."""
    rows = await pool.fetch(NEWEST_PAGE, tenant_id, target, action, since, before_seq, limit)
    return [dict(r) for r in rows]


async def verify(
    pool: asyncpg.Pool, tenant_id: str | None, seal: audit.Seal, published: dict[str, audit.Head]
) -> list[audit.Verdict]:
    """Each tenant's chain (or the one given) checked against the key and its published head; tenants
    with a published head but no entry left are checked too."""
    if tenant_id:
        tenants = [tenant_id]
    else:
        tenants = sorted({r["tenant_id"] for r in await pool.fetch(TENANTS)} | set(published))
    verdicts = []
    for t in tenants:
        rows = [dict(r) for r in await pool.fetch(CHAIN, t)]
        verdicts.append(audit.check(t, rows, seal, published.get(t)))
    return verdicts


async def actions(pool: asyncpg.Pool, tenant_id: str) -> list[str]:
    """The actions the tenant's log holds, for a filter to offer."""
    rows = await pool.fetch(ACTIONS, tenant_id)
    return [r["action"] for r in rows]
