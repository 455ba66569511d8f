"""Named leases: one holder at a time across processes, with no pooled connection kept between calls."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest

from projections import named_leases
from projections.db import create_pool, migrate


@pytest.fixture
async def pool(database: str) -> AsyncIterator[asyncpg.Pool]:
    opened = await create_pool(database, max_size=1, acquire_timeout=2.0)
    await migrate(opened)
    try:
        yield opened
    finally:
        await opened.close()


async def test_a_held_lease_keeps_others_out_until_released(pool: asyncpg.Pool) -> None:
    assert await named_leases.claim(pool, "n", "a", 30)
    assert not await named_leases.claim(pool, "n", "b", 30)
    assert await named_leases.claim(pool, "other", "b", 30)
    await named_leases.release(pool, "n", "b")  # not b's to release
    assert not await named_leases.claim(pool, "n", "b", 30)
    await named_leases.release(pool, "n", "a")
    assert await named_leases.claim(pool, "n", "b", 30)


async def test_a_lapsed_lease_may_be_taken(pool: asyncpg.Pool) -> None:
    assert await named_leases.claim(pool, "n", "a", 0.05)
    await asyncio.sleep(0.1)
    assert await named_leases.claim(pool, "n", "b", 30)


async def test_waiters_take_turns_on_a_pool_of_one_connection(pool: asyncpg.Pool) -> None:
    inside: list[int] = []
    log: list[tuple[str, int]] = []

    async def work(i: int) -> None:
        async with named_leases.held(pool, "n", seconds=30, wait=10):
            inside.append(i)
            log.append(("in", len(inside)))
            await pool.fetchval("SELECT 1")  # the one connection is free for the holder's own work
            inside.remove(i)

    await asyncio.wait_for(asyncio.gather(*(work(i) for i in range(5))), 20)
    assert log == [("in", 1)] * 5


async def test_waiting_too_long_for_a_lease_is_busy(pool: asyncpg.Pool) -> None:
    assert await named_leases.claim(pool, "n", "someone", 30)
    with pytest.raises(named_leases.LeaseBusy):
        async with named_leases.held(pool, "n", seconds=30, wait=0.2):
            pass
