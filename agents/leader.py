"""One worker at a time: a loop run only by the worker holding a PostgreSQL advisory lock.

The lock lives on a connection of the leader's own, so when that worker dies the lock goes with its
connection and another worker takes over within a second.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import asyncpg

log = logging.getLogger(__name__)

STANDBY = 1.0  # seconds between tries for a lock another worker holds


async def lead(
    pool: asyncpg.Pool,
    lock_key: int,
    body: Callable[[asyncpg.Connection], Awaitable[None]],
    *,
    what: str,
    pause: float = 1.0,
) -> None:
    """Run `body` on the lock's connection while holding `lock_key`, until cancelled; when it fails,
    log it, wait `pause` seconds and try again."""
    while True:
        try:
            async with pool.acquire() as conn:
                if not await conn.fetchval("SELECT pg_try_advisory_lock($1)", lock_key):
                    await asyncio.sleep(STANDBY)  # another worker leads; stand by
                    continue
                try:
                    await body(conn)
                finally:
                    await conn.execute("SELECT pg_advisory_unlock($1)", lock_key)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.warning("%s failed; retrying", what, exc_info=True)
            await asyncio.sleep(pause)
