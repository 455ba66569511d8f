"""Waiting for a condition with a deadline, for every tier of tests: never sleep and hope."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any


async def eventually(
    check: Callable[[], Awaitable[Any]],
    *,
    timeout: float = 30.0,
    every: float = 0.05,
    what: str = "condition",
) -> Any:
    """Poll `check` until it returns a truthy value; fail with `what` when the deadline passes."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what} (last: {last!r})")
