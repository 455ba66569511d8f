"""GCRA buckets with a hand-driven clock: bursts, refill, retry times, bounded memory, local allowances."""

from __future__ import annotations

import pytest

from pipeline.chat.rate_limits import (
    Allowances,
    FrameBucket,
    Grant,
    Limit,
    MemoryLimiter,
    grant,
    retry_seconds,
    take,
)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_a_visitor_may_send_a_burst_of_five_then_one_every_six_seconds() -> None:
    clock = Clock()
    limits = MemoryLimiter(clock=clock)
    limit = Limit.per_minute(10, 5)
    assert [(await limits.take("m", "v", limit)).granted for _ in range(5)] == [1] * 5
    assert await limits.take("m", "v", limit) == Grant(0, pytest.approx(6.0))
    clock.now += 2.5
    assert (await limits.take("m", "v", limit)).retry_after == pytest.approx(3.5)  # nothing taken
    clock.now += 3.5
    assert (await limits.take("m", "v", limit)).granted == 1
    assert (await limits.take("m", "v", limit)).retry_after == pytest.approx(6.0)


async def test_scopes_and_keys_have_their_own_buckets() -> None:
    limits = MemoryLimiter(clock=Clock())
    limit = Limit(1.0, 1)
    assert (await limits.take("a", "k", limit)).granted == 1
    assert (await limits.take("a", "k", limit)).granted == 0
    assert (await limits.take("a", "other", limit)).granted == 1
    assert (await limits.take("b", "k", limit)).granted == 1


async def test_a_take_of_several_gets_what_the_bucket_holds() -> None:
    clock = Clock()
    limits = MemoryLimiter(clock=clock)
    limit = Limit(10.0, 25)
    assert (await limits.take("s", "k", limit, 10)).granted == 10
    assert (await limits.take("s", "k", limit, 10)).granted == 10
    assert (await limits.take("s", "k", limit, 10)).granted == 5
    refused = await limits.take("s", "k", limit, 10)
    assert refused == Grant(0, pytest.approx(0.1))
    clock.now += 0.35
    assert (await limits.take("s", "k", limit, 10)).granted == 3


def test_a_bucket_never_holds_more_than_its_burst() -> None:
    limit = Limit(1.0, 3)
    assert take(limit, -10_000.0, 5) == (3, 3.0)  # long idle: full, and no fuller
    assert take(limit, 3.0, 1) == (0, 3.0)
    assert grant(limit, 0, 3.0) == Grant(0, 1.0)


def test_a_refusal_waits_whole_seconds_and_never_zero() -> None:
    assert retry_seconds(Grant(0, 0.01)) == 1
    assert retry_seconds(Grant(0, 5.0)) == 5
    assert retry_seconds(Grant(0, 5.2)) == 6


async def test_a_rate_of_zero_is_no_limit() -> None:
    limits = MemoryLimiter(clock=Clock())
    assert all([(await limits.take("s", "k", Limit(0, 1))).granted for _ in range(100)])
    assert len(limits) == 0


async def test_full_buckets_are_forgotten_when_the_map_is_full() -> None:
    clock = Clock()
    limits = MemoryLimiter(clock=clock, max_keys=3)
    limit = Limit(1.0, 2)
    for key in ("a", "b", "c"):
        await limits.take("s", key, limit)
    clock.now += 1.0  # a, b and c have refilled: they hold no information any more
    await limits.take("s", "d", limit)
    assert len(limits) == 1
    await limits.take("s", "d", limit)
    await limits.take("s", "e", limit)
    assert (await limits.take("s", "d", limit)).granted == 0  # a drained bucket is never forgotten early


def test_a_limit_needs_a_burst_and_no_negative_rate() -> None:
    with pytest.raises(ValueError):
        Limit(-1, 5)
    with pytest.raises(ValueError):
        Limit(10, 0)


async def test_an_allowance_asks_the_store_once_a_chunk_and_remembers_refusals() -> None:
    clock = Clock()
    store = MemoryLimiter(clock=clock)
    limit = Limit(100.0, 10)
    local = Allowances(limit, clock=clock, hold=1.0)
    assert local.chunk == 5  # 50 ms worth
    trips = 0
    answers = []
    for _ in range(12):
        held = local.spend("key")
        if held is None:
            trips += 1
            held = local.refill("key", await store.take("api", "key", limit, local.chunk))
        answers.append(held.granted)
    assert answers == [1] * 10 + [0, 0] and trips == 3  # two chunks, then the refusal, remembered
    assert local.spend("key") == Grant(0, pytest.approx(0.01))
    clock.now += 0.01
    assert local.spend("key") is None  # the refusal has run out: ask the store again


async def test_held_tokens_lapse_so_a_process_cannot_bank_them() -> None:
    clock = Clock()
    local = Allowances(Limit(100.0, 10), clock=clock, hold=1.0)
    assert local.refill("key", Grant(5)) == Grant(1)
    assert local.spend("key") == Grant(1)
    clock.now += 1.0
    assert local.spend("key") is None


def test_allowances_stay_bounded() -> None:
    clock = Clock()
    local = Allowances(Limit(100.0, 10), clock=clock, max_keys=2)
    local.refill("a", Grant(5))
    local.refill("b", Grant(5))
    clock.now += 2.0
    local.refill("c", Grant(5))
    assert len(local) == 1


def test_a_sockets_frame_bucket_gives_its_burst_then_its_rate() -> None:
    clock = Clock()
    frames = FrameBucket(10.0, 30, clock=clock)
    assert [frames.take() for _ in range(30)] == [0.0] * 30
    assert frames.take() == pytest.approx(0.1)  # refused: the next frame is a tenth of a second away
    clock.now += 0.1
    assert frames.take() == 0.0
    assert frames.take() > 0.0
    clock.now += 10.0  # idle: back to a full burst, never more
    assert [frames.take() for _ in range(31)].count(0.0) == 30
