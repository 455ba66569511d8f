"""Named leases in PostgreSQL: mutual exclusion across gateway processes that holds no connection.

A session-level advisory lock lives on one connection, so whoever waits for it or holds it keeps a
pooled connection busy the whole time; enough of them empty the pool. A lease is a row instead: each
claim and release is one short statement, and between them the holder keeps nothing of the pool.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator

import asyncpg

from pipeline.errors import TransientError
from projections.retryable import is_retryable

log = logging.getLogger(__name__)

CLAIM = """
INSERT INTO named_leases AS l (name, holder, expires_at)
VALUES ($1, $2, clock_timestamp() + make_interval(secs => $3))
ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at
WHERE l.expires_at < clock_timestamp()
RETURNING true
"""
RELEASE = "DELETE FROM named_leases WHERE name = $1 AND holder = $2"


class LeaseBusy(TransientError):
    """Another holder kept the lease for longer than the caller would wait."""

    code = "busy"


async def claim(pool: asyncpg.Pool, name: str, holder: str, seconds: float) -> bool:
    """Take the lease for `seconds` unless someone else holds it; True when taken."""
    return bool(await pool.fetchval(CLAIM, name, holder, seconds))


async def release(pool: asyncpg.Pool, name: str, holder: str) -> None:
    await pool.execute(RELEASE, name, holder)


@contextlib.asynccontextmanager
async def held(
    pool: asyncpg.Pool, name: str, *, seconds: float, wait: float, every: float = 0.01, most: float = 0.1
) -> AsyncIterator[None]:
    """Hold the lease on `name` (for at most `seconds`) inside the block; LeaseBusy after `wait` seconds."""
    holder = uuid.uuid4().hex
    deadline = time.monotonic() + wait
    delay = every
    while not await claim(pool, name, holder, seconds):
        if time.monotonic() >= deadline:
            raise LeaseBusy(f"{name} stayed busy for {wait:g} s")
        await asyncio.sleep(delay)
        delay = min(delay * 1.5, most)
    try:
        yield
    finally:
        try:
            await release(pool, name, holder)
        except Exception as exc:  # best effort: the lease lapses on its own within `seconds`
            if not is_retryable(exc):
                log.exception("releasing lease %s failed", name)
            else:
                log.warning("releasing lease %s failed: %r", name, exc)
