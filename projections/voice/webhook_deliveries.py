"""The status webhooks' delivery queue (`webhook_deliveries`): added by the voice writer, sent by the
worker's delivery loop.

A sender claims due rows with `FOR UPDATE SKIP LOCKED` and, in the same statement, counts the attempt and
moves `next_attempt_at` past the attempt's timeout: no other sender takes the row while it is being sent,
and a sender that dies mid-attempt only delays the next one. Results are written only for the attempt
that was claimed (`attempts` still the same).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

# A record applied again derives the same webhook id: the first row stays.
ENQUEUE = """
INSERT INTO webhook_deliveries (tenant_id, webhook_id, agent_id, url, event_type, payload, next_attempt_at)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (tenant_id, webhook_id) DO NOTHING
"""
CLAIM = """
WITH due AS (
    SELECT tenant_id, webhook_id FROM webhook_deliveries
    WHERE delivered_at IS NULL AND failed_at IS NULL AND next_attempt_at <= $1
    ORDER BY next_attempt_at
    LIMIT $2
    FOR UPDATE SKIP LOCKED
)
UPDATE webhook_deliveries w
SET attempts = w.attempts + 1, next_attempt_at = $1 + make_interval(secs => $3)
FROM due
WHERE w.tenant_id = due.tenant_id AND w.webhook_id = due.webhook_id
RETURNING w.tenant_id, w.webhook_id, w.agent_id, w.url, w.event_type, w.payload::text AS body, w.attempts,
          w.created_at
"""
DELIVERED = """
UPDATE webhook_deliveries SET delivered_at = $4, last_status = $5, last_error = NULL
WHERE tenant_id = $1 AND webhook_id = $2 AND attempts = $3 AND delivered_at IS NULL AND failed_at IS NULL
"""
RETRY = """
UPDATE webhook_deliveries SET next_attempt_at = $4, last_status = $5, last_error = $6
WHERE tenant_id = $1 AND webhook_id = $2 AND attempts = $3 AND delivered_at IS NULL AND failed_at IS NULL
"""
GIVE_UP = """
UPDATE webhook_deliveries SET failed_at = $4, last_status = $5, last_error = $6
WHERE tenant_id = $1 AND webhook_id = $2 AND attempts = $3 AND delivered_at IS NULL AND failed_at IS NULL
"""
ONE = "SELECT * FROM webhook_deliveries WHERE tenant_id = $1 AND webhook_id = $2"


@dataclass(frozen=True, slots=True)
class Claimed:
    """One attempt this sender owns until `next_attempt_at` moves past its timeout."""

    tenant_id: str
    webhook_id: str
    agent_id: str
    url: str
    event_type: str
    body: str  # the payload as PostgreSQL prints it: the same bytes on every attempt
    attempts: int  # this attempt's number
    created_at: datetime


async def enqueue(
    conn: asyncpg.Connection,
    *,
    tenant_id: str,
    webhook_id: str,
    agent_id: str,
    url: str,
    event_type: str,
    payload: dict[str, Any],
    due: datetime,
) -> None:
    await conn.execute(ENQUEUE, tenant_id, webhook_id, agent_id, url, event_type, payload, due)


async def claim(pool: asyncpg.Pool, now: datetime, limit: int, hold_seconds: float) -> list[Claimed]:
    """Up to `limit` due deliveries, each held for `hold_seconds` (longer than an attempt may take)."""
    rows = await pool.fetch(CLAIM, now, limit, hold_seconds)
    return [Claimed(**dict(r)) for r in rows]


async def delivered(pool: asyncpg.Pool, c: Claimed, at: datetime, status: int) -> None:
    await pool.execute(DELIVERED, c.tenant_id, c.webhook_id, c.attempts, at, status)


async def retry(pool: asyncpg.Pool, c: Claimed, at: datetime, status: int | None, error: str) -> None:
    await pool.execute(RETRY, c.tenant_id, c.webhook_id, c.attempts, at, status, error)


async def give_up(pool: asyncpg.Pool, c: Claimed, at: datetime, status: int | None, error: str) -> None:
    await pool.execute(GIVE_UP, c.tenant_id, c.webhook_id, c.attempts, at, status, error)


async def one(pool: asyncpg.Pool, tenant_id: str, webhook_id: str) -> dict[str, Any] | None:
    row = await pool.fetchrow(ONE, tenant_id, webhook_id)
    return None if row is None else dict(row)
