"""The port a batcher delivers through: HTTP by default, a fake or null one in tests and benchmarks."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from revos_sdk._delivery.batch import Batch


@dataclass(frozen=True, slots=True)
class EventResult:
    """What the backend decided about one event."""

    id: str
    accepted: bool
    code: str | None = None
    message: str | None = None


@runtime_checkable
class Transport(Protocol):
    """Delivers one batch per call from the batcher thread (never concurrently)."""

    def send(self, batch: Batch, timeout: float) -> Sequence[EventResult]:
        """Return a result per event it decided on; raise DeliveryError if the request failed as a whole.

        Events without a result are treated as undelivered and resent, which is safe because ids are
        idempotency keys.
        """
        ...

    def close(self) -> None:
        """Release connections; the transport is not used again."""
        ...


@runtime_checkable
class AsyncTransport(Protocol):
    """The asyncio twin of `Transport`, driven by AsyncRevos's background task."""

    async def send(self, batch: Batch, timeout: float) -> Sequence[EventResult]:
        """Same contract as `Transport.send`."""
        ...

    async def aclose(self) -> None:
        """Release connections; the transport is not used again."""
        ...


class NullTransport:
    """Accepts every event instantly without I/O; for benchmarks and dry runs."""

    def send(self, batch: Batch, timeout: float) -> Sequence[EventResult]:
        return [EventResult(item.id, True) for item in batch.items]

    def close(self) -> None:
        return None


class AsyncNullTransport:
    """Accepts every event instantly without I/O; the asyncio twin of NullTransport."""

    async def send(self, batch: Batch, timeout: float) -> Sequence[EventResult]:
        return [EventResult(item.id, True) for item in batch.items]

    async def aclose(self) -> None:
        return None
