"""Retry timing for calls to outside services: exponential backoff with full jitter, floored by Retry-After.

The client SDK has its own copy (`revos_sdk._delivery.backoff`) because it ships as a separate
distribution that must not depend on the server.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

# Our own generator, so retries never draw from (or perturb) the process's global `random` state.
_JITTER = random.Random()


@dataclass(frozen=True, slots=True)
class Backoff:
    """Delay before retry number `attempt` (1-based)."""

    base: float = 0.5
    cap: float = 8.0

    def ceiling(self, attempt: int) -> float:
        """The upper bound of the jittered delay for `attempt`."""
        # Bound the exponent so a long outage cannot overflow the float.
        return min(self.cap, self.base * 2.0 ** min(max(attempt - 1, 0), 60))

    def delay(
        self, attempt: int, retry_after: float | None = None, rand: Callable[[], float] = _JITTER.random
    ) -> float:
        """Full jitter in [0, ceiling); a server's Retry-After is a floor, since it said when to come back."""
        jittered = rand() * self.ceiling(attempt)
        return jittered if retry_after is None else max(retry_after, jittered)


def parse_retry_after(value: str | None, *, now: float) -> float | None:
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
    return max(0.0, when.timestamp() - now)
