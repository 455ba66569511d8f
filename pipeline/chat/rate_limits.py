"""Rate limits as GCRA (a token bucket kept as one timestamp): the math, and an in-memory store.

A bucket is the time its tokens will all be back (its theoretical arrival time, `tat`); what a caller
sees is how far ahead of now that lies. Each token taken pushes it one `interval` further; a bucket
lets tokens go while that stays within `burst` intervals of now. A bucket whose `tat` has passed is
full, the same as a new one, so it can be forgotten: stores stay bounded.

The shared store in PostgreSQL (projections/rate_limits.py) runs the same math in one statement.
Pure: the clock is a parameter, so the tests drive time by hand.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

_EPSILON = 1e-9  # timestamps round to microseconds: a refill must not fall a rounding error short


@dataclass(frozen=True, slots=True)
class Limit:
    """`per_second` tokens a second, at most `burst` at once; a rate of 0 means no limit."""

    per_second: float
    burst: int

    @classmethod
    def per_minute(cls, per_minute: float, burst: float) -> Limit:
        return cls(per_minute / 60.0, max(1, int(burst)))

    def __post_init__(self) -> None:
        if self.per_second < 0 or self.burst < 1:
            raise ValueError("a rate limit needs a rate of at least 0 and a burst of at least 1")

    @property
    def enabled(self) -> bool:
        return self.per_second > 0

    @property
    def interval(self) -> float:
        """Seconds one token takes to come back."""
        return 1.0 / self.per_second


@dataclass(frozen=True, slots=True)
class Grant:
    """How many tokens were taken (0 when refused) and, when refused, the seconds until one is back."""

    granted: int
    retry_after: float = 0.0


def room(limit: Limit, ahead: float) -> int:
    """Tokens a bucket whose `tat` lies `ahead` seconds from now can give at once."""
    spare = (limit.burst * limit.interval - max(0.0, ahead)) / limit.interval
    return max(0, math.floor(spare + _EPSILON))


def take(limit: Limit, ahead: float, want: int) -> tuple[int, float]:
    """Up to `want` tokens from a bucket `ahead` seconds ahead of now: (taken, how far ahead it is now)."""
    granted = min(want, room(limit, ahead))
    return granted, max(0.0, ahead) + granted * limit.interval


def grant(limit: Limit, granted: int, ahead: float) -> Grant:
    """The answer to a caller, from what a store took and where the bucket stands after it."""
    if granted > 0:
        return Grant(granted)
    return Grant(0, max(0.0, ahead - (limit.burst - 1) * limit.interval))


def retry_seconds(grant: Grant) -> int:
    """A refusal's wait as whole seconds for `Retry-After`: rounded up, never 0."""
    return max(1, math.ceil(grant.retry_after - _EPSILON))


class FrameBucket:
    """One bucket kept in one place, with no store and no await: a chat socket's own frames."""

    def __init__(self, per_second: float, burst: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = Limit(per_second, burst)
        self._clock = clock
        self._tat = clock()  # full

    def take(self) -> float:
        """0.0 when a token was taken; otherwise the seconds until one is back (none taken)."""
        now = self._clock()
        granted, ahead = take(self.limit, self._tat - now, 1)
        self._tat = now + ahead
        return grant(self.limit, granted, ahead).retry_after


class Limiter(Protocol):
    """A store of buckets, each named by a scope (what is limited) and a key (who)."""

    async def take(self, scope: str, key: str, limit: Limit, want: int = 1) -> Grant: ...


class MemoryLimiter:
    """Buckets in one process: for tests and for anything that needs no other process's word.

    Buckets that have refilled carry no information, so they are dropped when the map grows past
    `max_keys`: memory stays bounded however many visitors come and go."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic, max_keys: int = 100_000) -> None:
        self._clock = clock
        self._max_keys = max_keys
        self._tats: dict[tuple[str, str], float] = {}

    async def take(self, scope: str, key: str, limit: Limit, want: int = 1) -> Grant:
        if not limit.enabled:
            return Grant(want)
        now = self._clock()
        name = (scope, key)
        tat = self._tats.get(name)
        if tat is None and len(self._tats) >= self._max_keys:
            self._tats = {k: t for k, t in self._tats.items() if t > now}
        granted, ahead = take(limit, 0.0 if tat is None else tat - now, want)
        self._tats[name] = now + ahead
        return grant(limit, granted, ahead)

    def __len__(self) -> int:
        return len(self._tats)


@dataclass(slots=True)
class _Held:
    tokens: int
    until: float  # held tokens lapse then, so a process cannot bank them
    blocked_until: float  # the shared bucket had nothing to give until then


class Allowances:
    """Tokens one process takes from the shared store ahead of need, so a busy key costs the store one
    trip per `chunk` requests rather than one per request.

    A chunk is 50 ms worth of the limit; across N processes a key may get up to N chunks more than its
    burst at once, never more over time. Held tokens lapse after `hold` seconds (they are spent, not
    given back: an allowance errs on the side of the limit). A refusal is remembered until its retry
    time, so a flood of refused requests costs the store nothing."""

    def __init__(
        self,
        limit: Limit,
        *,
        hold: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 10_000,
    ) -> None:
        self.limit = limit
        self.chunk = max(1, min(limit.burst, math.ceil(limit.per_second * 0.05))) if limit.enabled else 1
        self._hold = hold
        self._clock = clock
        self._max_keys = max_keys
        self._held: dict[str, _Held] = {}

    def spend(self, key: str) -> Grant | None:
        """The answer from what this process holds for `key`; None when the store must be asked."""
        if not self.limit.enabled:
            return Grant(1)
        held = self._held.get(key)
        if held is None:
            return None
        now = self._clock()
        if held.blocked_until > now:
            return Grant(0, held.blocked_until - now)
        if held.tokens > 0 and held.until > now:
            held.tokens -= 1
            return Grant(1)
        return None

    def refill(self, key: str, taken: Grant) -> Grant:
        """Keep what the store gave for `key` (one of it spent on this request); the request's answer."""
        now = self._clock()
        if key not in self._held and len(self._held) >= self._max_keys:
            self._held = {k: h for k, h in self._held.items() if h.until > now or h.blocked_until > now}
            if len(self._held) >= self._max_keys:
                self._held.clear()
        if taken.granted == 0:
            self._held[key] = _Held(0, now, now + taken.retry_after)
            return taken
        self._held[key] = _Held(taken.granted - 1, now + self._hold, 0.0)
        return Grant(1)

    def __len__(self) -> int:
        return len(self._held)
