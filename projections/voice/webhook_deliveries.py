"""The webhooks' delivery queue (`webhook_deliveries`): an agent's status webhooks (added by the voice
writer) and the tenants' alert endpoints' deliveries (added by the writer that applies each fact, see
projections/webhooks/fanout.py), sent by the worker's delivery loop.

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
ENQUEUE_FOR_ENDPOINT = """
INSERT INTO webhook_deliveries (tenant_id, webhook_id, endpoint_id, url, event_type, payload, next_attempt_at)
VALUES ($1, $2, $3, $4, $5, $6, clock_timestamp())
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
RETURNING w.tenant_id, w.webhook_id, w.agent_id, w.endpoint_id, w.url, w.event_type, w.payload::text AS body,
          w.attempts, w.created_at, coalesce(w.redelivered_at, w.created_at) AS since
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
# An endpoint's delivery log, newest first (by when each was queued, which never changes: stable pages).
OF_ENDPOINT = """
SELECT webhook_id AS delivery_id, event_type, attempts, last_status, last_error, next_attempt_at, delivered_at,
       failed_at, redelivered_at, created_at
FROM webhook_deliveries
WHERE tenant_id = $1 AND endpoint_id = $2
  AND ($3::timestamptz IS NULL OR (created_at, webhook_id) < ($3, $4))
ORDER BY created_at DESC, webhook_id DESC
LIMIT $5
"""
ONE_OF_ENDPOINT = """
SELECT webhook_id AS delivery_id, event_type, attempts, last_status, last_error, next_attempt_at, delivered_at,
       failed_at, redelivered_at, created_at
FROM webhook_deliveries WHERE tenant_id = $1 AND endpoint_id = $2 AND webhook_id = $3
"""


@dataclass(frozen=True, slots=True)
class Claimed:
    """One attempt this sender owns until `next_attempt_at` moves past its timeout."""

    tenant_id: str
    webhook_id: str
    agent_id: str | None  # an agent's status webhook
    endpoint_id: str | None  # or a tenant's alert endpoint
    url: str
    event_type: str
    body: str  # the payload as PostgreSQL prints it: the same bytes on every attempt
    attempts: int  # this attempt's number
    created_at: datetime
    since: datetime  # when retrying began: queued, or last asked to be redelivered


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


def status(row: dict[str, Any]) -> str:
    """A delivery's state as the API names it."""
    if row["delivered_at"] is not None:
        return "delivered"
    if row["failed_at"] is not None:
        return "failed"
    return "pending" if row["attempts"] == 0 else "retrying"


async def of_endpoint(
    pool: asyncpg.Pool,
    tenant_id: str,
    endpoint_id: str,
    *,
    after: tuple[datetime, str] | None,
    limit: int,
) -> list[dict[str, Any]]:
    at, last = after if after is not None else (None, "")
    rows = await pool.fetch(OF_ENDPOINT, tenant_id, endpoint_id, at, last, limit)
    return [{**dict(r), "status": status(dict(r))} for r in rows]


async def one_of_endpoint(
    pool: asyncpg.Pool, tenant_id: str, endpoint_id: str, delivery_id: str
) -> dict[str, Any] | None:
    row = await pool.fetchrow(ONE_OF_ENDPOINT, tenant_id, endpoint_id, delivery_id)
    return None if row is None else {**dict(row), "status": status(dict(row))}
