"""The rate-limit store's contract, on the in-memory store and on PostgreSQL; the shared one under
concurrency and its sweep of full buckets."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest

from pipeline.chat.rate_limits import Limit, Limiter, MemoryLimiter
from projections.db import create_pool, migrate
from projections.rate_limits import PostgresLimiter


@pytest.fixture
async def pool(database: str) -> AsyncIterator[asyncpg.Pool]:
    opened = await create_pool(database, max_size=8, acquire_timeout=5.0)
    await migrate(opened)
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture(params=["memory", "postgres"])
def limiter(request: pytest.FixtureRequest, pool: asyncpg.Pool) -> Limiter:
    return MemoryLimiter() if request.param == "memory" else PostgresLimiter(pool)


class TestLimiterContract:
    async def test_a_burst_then_a_refusal_with_the_time_until_the_next_token(self, limiter: Limiter) -> None:
        limit = Limit.per_minute(6, 3)  # one every 10 s
        assert [(await limiter.take("s", "k", limit)).granted for _ in range(3)] == [1, 1, 1]
        refused = await limiter.take("s", "k", limit)
        assert refused.granted == 0 and 9.0 < refused.retry_after <= 10.0

    async def test_a_token_comes_back_after_its_interval(self, limiter: Limiter) -> None:
        limit = Limit(20.0, 1)
        assert (await limiter.take("s", "k", limit)).granted == 1
        assert (await limiter.take("s", "k", limit)).granted == 0
        await asyncio.sleep(0.06)
        assert (await limiter.take("s", "k", limit)).granted == 1

    async def test_several_at_once_get_what_the_bucket_holds(self, limiter: Limiter) -> None:
        limit = Limit(0.1, 10)
        assert (await limiter.take("s", "k", limit, 4)).granted == 4
        assert (await limiter.take("s", "k", limit, 4)).granted == 4
        assert (await limiter.take("s", "k", limit, 4)).granted == 2
        assert (await limiter.take("s", "k", limit, 4)).granted == 0

    async def test_scopes_and_keys_are_apart_and_a_rate_of_zero_is_no_limit(self, limiter: Limiter) -> None:
        limit = Limit(0.1, 1)
        assert (await limiter.take("s", "k", limit)).granted == 1
        assert (await limiter.take("s", "other", limit)).granted == 1
        assert (await limiter.take("t", "k", limit)).granted == 1
        assert (await limiter.take("s", "k", limit)).granted == 0
        assert all([(await limiter.take("s", "k", Limit(0, 1))).granted for _ in range(5)])


async def test_concurrent_takes_on_many_connections_never_give_more_than_the_burst(
    pool: asyncpg.Pool,
) -> None:
    shared = PostgresLimiter(pool)
    limit = Limit(0.01, 25)
    answers = await asyncio.gather(*(shared.take("s", "hot", limit) for _ in range(100)))
    assert sum(a.granted for a in answers) == 25


async def test_full_buckets_are_swept_and_drained_ones_kept(pool: asyncpg.Pool) -> None:
    shared = PostgresLimiter(pool)
    await shared.take("s", "brief", Limit(100.0, 1))  # full again 10 ms later
    await shared.take("s", "drained", Limit(0.01, 1))
    await asyncio.sleep(1.1)  # the sweep leaves a second's margin
    assert await shared.sweep() == 1
    assert await pool.fetchval("SELECT array_agg(key) FROM rate_limits") == ["drained"]
    assert (await shared.take("s", "drained", Limit(0.01, 1))).granted == 0
