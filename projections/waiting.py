"""Read-your-writes: wait, with a deadline, until a projection shows a row."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import asyncpg


async def wait_for(
    pool: asyncpg.Pool, query: str, *args: Any, timeout: float = 10.0, every: float = 0.01
) -> bool:
    """Poll `query` until it returns a row; False if the deadline passes first."""
    return await wait_for_value(pool, query, *args, timeout=timeout, every=every) is not None


async def wait_for_value(
    pool: asyncpg.Pool, query: str, *args: Any, timeout: float = 10.0, every: float = 0.01, most: float = 0.1
) -> Any:
    """Poll `query` until its first column is not NULL and return it; None if the deadline passes first."""
    deadline = time.monotonic() + timeout
    delay = every
    while True:
        value = await pool.fetchval(query, *args)
        if value is not None:
            return value
        if time.monotonic() >= deadline:
            return None
        await asyncio.sleep(delay)
        delay = min(delay * 1.5, most)
