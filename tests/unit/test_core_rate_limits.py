"""Token buckets with a hand-driven clock: bursts, refill, retry times, and bounded memory."""

from __future__ import annotations

import pytest

from pipeline.rate_limits import RateLimiter, TokenBucket


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_session_may_send_a_burst_of_five_then_one_every_six_seconds() -> None:
    clock = Clock()
    limits = RateLimiter(10, 5, clock=clock)
    assert [limits.take("s") for _ in range(5)] == [0.0] * 5
    assert limits.take("s") == pytest.approx(6.0)
    clock.now += 2.5
    assert limits.take("s") == pytest.approx(3.5)  # refused again: nothing taken
    clock.now += 3.5
    assert limits.take("s") == 0.0
    assert limits.take("s") == pytest.approx(6.0)


def test_keys_have_their_own_buckets() -> None:
    limits = RateLimiter(60, 1, clock=Clock())
    assert limits.take("a") == 0.0
    assert limits.take("a") == pytest.approx(1.0)
    assert limits.take("b") == 0.0


def test_a_bucket_never_holds_more_than_its_burst() -> None:
    bucket = TokenBucket(rate=1.0, burst=3.0, tokens=3.0, updated=0.0)
    assert [bucket.take(10_000.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take(10_000.0) == pytest.approx(1.0)


def test_a_clock_going_backwards_refills_nothing() -> None:
    bucket = TokenBucket(rate=1.0, burst=1.0, tokens=0.0, updated=100.0)
    assert bucket.take(50.0) == pytest.approx(1.0)
    assert bucket.take(101.0) == 0.0


def test_full_buckets_are_forgotten_when_the_map_is_full() -> None:
    clock = Clock()
    limits = RateLimiter(60, 2, clock=clock, max_keys=3)
    for key in ("a", "b", "c"):
        limits.take(key)
    clock.now += 1.0  # a, b and c have refilled: they hold no information any more
    limits.take("d")
    assert len(limits) == 1
    limits.take("d")
    limits.take("e")
    assert limits.take("d") == pytest.approx(1.0)  # a drained bucket is never forgotten early


def test_a_limit_needs_a_rate_and_a_burst() -> None:
    with pytest.raises(ValueError):
        RateLimiter(0, 5)
    with pytest.raises(ValueError):
        RateLimiter(10, 0)
