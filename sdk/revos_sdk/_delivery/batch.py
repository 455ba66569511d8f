"""Batches and the pure decision of when one is complete (count, bytes or age)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from revos_sdk._delivery.segment import Segment

_HEAD = b'{"events":['
_TAIL = b"]}"
# Bytes a request body spends beyond the events themselves (commas are counted per event).
BODY_OVERHEAD = len(_HEAD) + len(_TAIL)


class Pending(NamedTuple):
    """One encoded event waiting for delivery, and the spool segment that holds its copy, if any."""

    id: str
    payload: bytes
    segment: Segment | None = None


@dataclass(frozen=True, slots=True)
class Batch:
    """Events sent in one request, in order."""

    items: tuple[Pending, ...]

    def __len__(self) -> int:
        return len(self.items)

    @property
    def ids(self) -> list[str]:
        return [item.id for item in self.items]

    def body(self) -> bytes:
        """The JSON request body `{"events": [...]}`, built without re-encoding."""
        return _HEAD + b",".join(item.payload for item in self.items) + _TAIL

    def split(self) -> tuple[Batch, Batch]:
        """Halve a batch the gateway found too large."""
        middle = len(self.items) // 2
        return Batch(self.items[:middle]), Batch(self.items[middle:])


@dataclass(frozen=True, slots=True)
class BatchPolicy:
    """A batch closes at `max_events`, before exceeding `max_bytes`, or `max_wait` after its first event.

    While more events are already waiting (a backlog), a batch may grow to `backlog_events`: under load
    fewer, larger requests deliver more, and a quiet client still sends after `max_events` or `max_wait`.
    """

    max_events: int = 100
    max_bytes: int = 1_000_000
    max_wait: float = 0.5
    backlog_events: int = 0  # 0: never grow past max_events

    @property
    def max_event_bytes(self) -> int:
        """The largest single event that can ever be sent."""
        return self.max_bytes - BODY_OVERHEAD


class BatchBuilder:
    """Accumulates pending events and says when the batch must be sent."""

    __slots__ = ("_items", "_size", "backlog", "deadline", "policy")

    def __init__(self, policy: BatchPolicy) -> None:
        self.policy = policy
        self._items: list[Pending] = []
        self._size = BODY_OVERHEAD
        self.deadline: float | None = None
        self.backlog = False  # set by the batcher: more events are waiting behind this batch

    @property
    def _max_events(self) -> int:
        policy = self.policy
        return max(policy.max_events, policy.backlog_events) if self.backlog else policy.max_events

    def __len__(self) -> int:
        return len(self._items)

    @property
    def size(self) -> int:
        """Bytes of the request body this batch would produce."""
        return self._size

    def fits(self, item: Pending) -> bool:
        """Whether `item` can join without breaking the count or byte limit."""
        if not self._items:
            return True
        return (
            len(self._items) < self._max_events
            and self._size + 1 + len(item.payload) <= self.policy.max_bytes
        )

    def add(self, item: Pending, now: float) -> None:
        """Append `item`; the first event of a batch starts its age clock."""
        if self._items:
            self._size += 1 + len(item.payload)
        else:
            self._size += len(item.payload)
            self.deadline = now + self.policy.max_wait
        self._items.append(item)

    @property
    def full(self) -> bool:
        """True when no further event could join (count reached, or bytes within 64 of the limit)."""
        return len(self._items) >= self._max_events or self._size >= self.policy.max_bytes - 64

    def due(self, now: float) -> bool:
        """True when the batch is non-empty and full or old enough to send."""
        return bool(self._items) and (self.full or (self.deadline is not None and now >= self.deadline))

    def take(self) -> Batch:
        """Return the batch and start an empty one."""
        batch = Batch(tuple(self._items))
        self._items = []
        self._size = BODY_OVERHEAD
        self.deadline = None
        return batch
