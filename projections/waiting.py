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
    deadline = time.monotonic() + timeout
    delay = every
    while True:
        if await pool.fetchval(query, *args) is not None:
            return True
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(delay)
        delay = min(delay * 1.5, 0.1)
