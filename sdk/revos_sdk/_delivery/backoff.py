"""Retry timing: exponential backoff with full jitter that never undercuts Retry-After."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

# Our own generator: the SDK never draws from (or perturbs) the application's global `random` state.
_JITTER = random.Random()


@dataclass(frozen=True, slots=True)
class Backoff:
    """Delay before retry number `attempt` (1-based)."""

    base: float = 0.5
    cap: float = 30.0
    max_retry_after: float = 300.0

    def ceiling(self, attempt: int) -> float:
        """The upper bound of the jittered delay for `attempt`."""
        # Bound the exponent so a long outage cannot overflow the float.
        return min(self.cap, self.base * 2.0 ** min(max(attempt - 1, 0), 60))

    def delay(
        self,
        attempt: int,
        retry_after: float | None = None,
        rand: Callable[[], float] = _JITTER.random,
    ) -> float:
        """Full jitter in [0, ceiling); when the server named a Retry-After, wait at least that long."""
        jittered = rand() * self.ceiling(attempt)
        if retry_after is None:
            return jittered
        # Retry-After is the server's explicit instruction; the cap only guards against absurd values.
        return max(min(retry_after, self.max_retry_after), jittered)


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date); None if absent or garbled."""
    if value is None:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))
