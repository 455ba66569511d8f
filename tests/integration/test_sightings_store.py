"""The sighting store's contract, on the in-memory store and on PostgreSQL: tallies add up whatever the
order they arrive in, an agent keeps at most 100 origins, tenants and agents are apart; on PostgreSQL,
concurrent writers of one origin lose no count."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from pipeline.chat.sightings import MAX_ORIGINS, MemorySightings, Sighting, SightingStore
from projections.chat.sightings import PostgresSightings
from projections.db import create_pool, migrate

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def tally(
    origin: str = "https://shop.example.com",
    *,
    allowed: bool = True,
    first: float = 0,
    last: float = 0,
    sessions: int = 1,
    refused: int = 0,
    tenant_id: str = "ten_1",
    agent_id: str = "agt_1",
) -> Sighting:
    return Sighting(tenant_id, agent_id, origin, allowed, at(first), at(last), sessions, refused)


@pytest.fixture
async def pool(database: str) -> AsyncIterator[asyncpg.Pool]:
    opened = await create_pool(database, max_size=8, acquire_timeout=5.0)
    await migrate(opened)
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture(params=["memory", "postgres"])
def store(request: pytest.FixtureRequest, pool: asyncpg.Pool) -> SightingStore:
    return MemorySightings() if request.param == "memory" else PostgresSightings(pool)


class TestSightingStoreContract:
    async def test_tallies_add_up_and_the_times_widen(self, store: SightingStore) -> None:
        assert await store.record(tally(first=10, last=20, sessions=3, refused=1, allowed=False))
        assert await store.record(tally(first=30, last=40, sessions=2, refused=0, allowed=True))
        assert await store.record(tally(first=5, last=8, sessions=1, refused=1, allowed=False))
        [row] = await store.listing("ten_1", "agt_1")
        assert row == tally(first=5, last=40, sessions=6, refused=2, allowed=True)

    async def test_the_decision_of_the_latest_sighting_wins_whatever_the_write_order(
        self, store: SightingStore
    ) -> None:
        assert await store.record(tally("https://a.example", allowed=False, last=50, refused=1))
        assert await store.record(tally("https://a.example", allowed=True, last=40))
        assert await store.record(tally("https://b.example", allowed=True, last=40))
        assert await store.record(tally("https://b.example", allowed=False, last=50, refused=1))
        listed = {s.origin: s.allowed for s in await store.listing("ten_1", "agt_1")}
        assert listed == {"https://a.example": False, "https://b.example": False}

    async def test_the_most_recently_seen_come_first(self, store: SightingStore) -> None:
        for origin, last in [("https://a.example", 5), ("https://b.example", 30), ("https://c.example", 10)]:
            assert await store.record(tally(origin, first=last, last=last))
        assert await store.record(tally("https://a.example", first=60, last=60))
        listed = [s.origin for s in await store.listing("ten_1", "agt_1")]
        assert listed == ["https://a.example", "https://b.example", "https://c.example"]

    async def test_an_agent_keeps_at_most_a_hundred_origins_and_those_still_count(
        self, store: SightingStore
    ) -> None:
        for i in range(MAX_ORIGINS):
            assert await store.record(tally(f"https://{i}.example", last=i))
        assert not await store.record(tally("https://forged.example", last=500))
        assert await store.record(tally("https://7.example", last=600, sessions=4))
        assert await store.record(tally("https://forged.example", agent_id="agt_2"))  # its own hundred
        listed = await store.listing("ten_1", "agt_1")
        assert len(listed) == MAX_ORIGINS
        assert "https://forged.example" not in {s.origin for s in listed}
        assert (listed[0].origin, listed[0].sessions) == ("https://7.example", 5)

    async def test_tenants_and_agents_are_apart(self, store: SightingStore) -> None:
        assert await store.record(tally(tenant_id="ten_1", agent_id="agt_1", sessions=1))
        assert await store.record(tally(tenant_id="ten_2", agent_id="agt_1", sessions=2))
        assert await store.record(tally(tenant_id="ten_1", agent_id="agt_2", sessions=3))
        assert [s.sessions for s in await store.listing("ten_1", "agt_1")] == [1]
        assert [s.sessions for s in await store.listing("ten_2", "agt_1")] == [2]
        assert [s.sessions for s in await store.listing("ten_1", "agt_2")] == [3]
        assert await store.listing("ten_2", "agt_2") == []


async def test_concurrent_writers_of_one_origin_lose_no_count(pool: asyncpg.Pool) -> None:
    stores = [PostgresSightings(pool) for _ in range(8)]
    writes = [s.record(tally(last=i % 7, sessions=2, refused=1)) for i, s in enumerate(stores * 5)]
    assert all(await asyncio.gather(*writes))
    [row] = await stores[0].listing("ten_1", "agt_1")
    assert (row.sessions, row.refused, row.first_seen, row.last_seen) == (80, 40, at(0), at(6))


async def test_the_table_refuses_counts_that_make_no_sense(pool: asyncpg.Pool) -> None:
    with pytest.raises(asyncpg.CheckViolationError):
        await PostgresSightings(pool).record(tally(sessions=1, refused=2))
