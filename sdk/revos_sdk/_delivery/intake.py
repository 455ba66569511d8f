"""The bounded in-memory queue between `track()` callers and the batcher thread, and its control markers."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from queue import Empty, SimpleQueue

from revos_sdk._delivery.batch import Pending

__all__ = ["BoundedQueue", "Close", "Empty", "Flush"]


@dataclass(eq=False, slots=True)
class Flush:
    """Asks the batcher to send everything queued before it, then report whether it all got resolved."""

    done: threading.Event = field(default_factory=threading.Event)
    delivered: bool = False

    def finish(self, delivered: bool) -> None:
        self.delivered = delivered
        self.done.set()


@dataclass(eq=False, slots=True)
class Close:
    """Asks the batcher to deliver everything queued before it and stop."""


Item = Pending | Flush | Close


class BoundedQueue:
    """A SimpleQueue (lock-free put in C) with a soft bound checked before each put."""

    __slots__ = ("_queue", "_room", "_waiters", "maxsize")

    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize
        self._queue: SimpleQueue[Item] = SimpleQueue()
        self._room = threading.Condition(threading.Lock())
        self._waiters = 0

    def qsize(self) -> int:
        return self._queue.qsize()

    def offer(self, item: Pending) -> bool:
        """Enqueue unless full; concurrent callers may overshoot the bound by at most their number."""
        if self._queue.qsize() >= self.maxsize:
            return False
        self._queue.put(item)
        return True

    def put(self, item: Pending) -> None:
        """Enqueue ignoring the bound (the caller already decided there is room)."""
        self._queue.put(item)

    def offer_wait(self, item: Pending, timeout: float) -> bool:
        """Enqueue, waiting up to `timeout` seconds for room; False if there was none in time."""
        if self.offer(item):
            return True
        deadline = time.monotonic() + timeout
        with self._room:
            self._waiters += 1
            try:
                while self._queue.qsize() >= self.maxsize:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return False
                    self._room.wait(remaining)
            finally:
                self._waiters -= 1
        self._queue.put(item)
        return True

    def control(self, marker: Flush | Close) -> None:
        """Enqueue a marker regardless of the bound."""
        self._queue.put(marker)

    def get(self, timeout: float) -> Item:
        """The next item, waiting up to `timeout` seconds; raises queue.Empty."""
        item = self._queue.get(timeout=timeout) if timeout > 0 else self._queue.get_nowait()
        if self._waiters:
            with self._room:
                self._room.notify()
        return item

    def drain(self) -> list[Item]:
        """Everything currently queued, without waiting."""
        items: list[Item] = []
        while True:
            try:
                items.append(self._queue.get_nowait())
            except Empty:
                return items
