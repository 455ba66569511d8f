"""Rate-limit buckets in PostgreSQL, shared by every gateway process: one statement per take.

The statement runs the GCRA of pipeline/chat/rate_limits.py on the database's clock, so gateways whose
clocks disagree still share one bucket: it takes what the bucket can give (up to what was asked) and
moves the bucket's `tat` on by that many intervals, atomically (`INSERT … ON CONFLICT DO UPDATE`).
"""

from __future__ import annotations

import asyncio
import logging

import asyncpg

from pipeline.chat.rate_limits import Grant, Limit, grant
from projections.retryable import is_retryable

log = logging.getLogger(__name__)

# $1 scope, $2 key, $3 tokens wanted, $4 burst, $5 interval (seconds). now() is the statement's start
# (each runs in a transaction of its own), so the expressions below all see one instant.
_AHEAD = "GREATEST(0, extract(epoch FROM b.tat - now())::float8)"
_ROOM = f"LEAST($3::int, GREATEST(0, floor(($4::int * $5::float8 - {_AHEAD}) / $5::float8 + 1e-9))::int)"
TAKE = f"""
INSERT INTO rate_limits AS b (scope, key, tat, granted)
VALUES ($1, $2, now() + make_interval(secs => LEAST($3::int, $4::int) * $5::float8), LEAST($3::int, $4::int))
ON CONFLICT (scope, key) DO UPDATE SET
    granted = {_ROOM},
    tat = GREATEST(b.tat, now()) + make_interval(secs => {_ROOM} * $5::float8)
RETURNING granted, extract(epoch FROM tat - now())::float8 AS ahead
"""
# Full buckets are the same as none: a bounded batch at a time keeps each sweep short.
SWEEP = """
DELETE FROM rate_limits WHERE ctid = ANY(ARRAY(
    SELECT ctid FROM rate_limits WHERE tat < now() - interval '1 second' LIMIT $1
))
"""


class PostgresLimiter:
    """The `Limiter` port on PostgreSQL: every gateway process sees the same buckets."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def take(self, scope: str, key: str, limit: Limit, want: int = 1) -> Grant:
        if not limit.enabled:
            return Grant(want)
        row = await self._pool.fetchrow(TAKE, scope, key, want, limit.burst, limit.interval)
        assert row is not None
        return grant(limit, row["granted"], row["ahead"])

    async def sweep(self, batch: int = 10_000) -> int:
        """Delete up to `batch` full buckets; how many went."""
        status = await self._pool.execute(SWEEP, batch)
        return int(status.split()[-1])

    async def keep_swept(self, every: float = 60.0) -> None:
        """Delete full buckets every `every` seconds until cancelled, so the table stays bounded."""
        while True:
            try:
                while await self.sweep() == 10_000:
                    pass
            except Exception as exc:  # the next round tries again; limits still hold meanwhile
                if not is_retryable(exc):
                    log.exception("sweeping rate-limit buckets failed")
                else:
                    log.warning("sweeping rate-limit buckets failed: %r", exc)
            await asyncio.sleep(every)
