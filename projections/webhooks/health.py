"""Each alert endpoint's failure streak (`webhook_endpoint_health`), kept by the worker's sender to decide
when an endpoint that keeps failing is disabled. Not a projection: a 2xx answer ends the streak, and a
tenant enabling the endpoint again clears it (projections/webhooks/endpoints.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg

FAILED = """
INSERT INTO webhook_endpoint_health (tenant_id, endpoint_id, failing_since, failures)
VALUES ($1, $2, $3, 1)
ON CONFLICT (tenant_id, endpoint_id) DO UPDATE SET
    failing_since = coalesce(webhook_endpoint_health.failing_since, EXCLUDED.failing_since),
    failures = webhook_endpoint_health.failures + 1
RETURNING failing_since, failures, disabled_at
"""
SUCCEEDED = """
INSERT INTO webhook_endpoint_health (tenant_id, endpoint_id, last_success) VALUES ($1, $2, $3)
ON CONFLICT (tenant_id, endpoint_id) DO UPDATE SET
    failing_since = NULL, failures = 0, last_success = EXCLUDED.last_success
"""
# Only the sender that marks it publishes the endpoint's disabling.
MARK_DISABLED = """
UPDATE webhook_endpoint_health SET disabled_at = $3
WHERE tenant_id = $1 AND endpoint_id = $2 AND disabled_at IS NULL
RETURNING disabled_at
"""


@dataclass(frozen=True, slots=True)
class Streak:
    failing_since: datetime
    failures: int
    disabled: bool  # already disabled by a sender


async def failed(pool: asyncpg.Pool, tenant_id: str, endpoint_id: str, at: datetime) -> Streak:
    row = await pool.fetchrow(FAILED, tenant_id, endpoint_id, at)
    return Streak(row["failing_since"], row["failures"], row["disabled_at"] is not None)


async def succeeded(pool: asyncpg.Pool, tenant_id: str, endpoint_id: str, at: datetime) -> None:
    await pool.execute(SUCCEEDED, tenant_id, endpoint_id, at)


async def mark_disabled(conn: asyncpg.Connection, tenant_id: str, endpoint_id: str, at: datetime) -> bool:
    """True for the one caller that marks it."""
    return await conn.fetchval(MARK_DISABLED, tenant_id, endpoint_id, at) is not None
