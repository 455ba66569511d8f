"""Delivery counters, safe to bump from any thread."""

from __future__ import annotations

import threading

COUNTERS = ("enqueued", "sent", "retried", "rejected", "failed", "dropped", "spooled", "replayed", "invalid")


class Stats:
    """Monotonic event counters; `snapshot()` is a consistent copy."""

    __slots__ = ("_counts", "_lock")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts = dict.fromkeys(COUNTERS, 0)

    def add(self, name: str, n: int = 1) -> None:
        """Add `n` to counter `name` (one of COUNTERS)."""
        with self._lock:
            self._counts[name] += n

    def snapshot(self) -> dict[str, int]:
        """A copy of every counter."""
        with self._lock:
            return dict(self._counts)

    def reset_after_fork(self) -> None:
        """A forked child counts its own events from zero, with a lock no parent thread can hold."""
        self._lock = threading.Lock()
        self._counts = dict.fromkeys(COUNTERS, 0)
