"""The event publisher port: what is sent (`Outgoing`), what the broker acknowledged (`Delivered`), who sends."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from pipeline.errors import TransientError


class BrokerUnavailable(TransientError):
    code = "broker_unavailable"


@dataclass(frozen=True, slots=True)
class Outgoing:
    topic: str
    value: bytes
    key: bytes | None = None
    partition: int | None = None
    headers: tuple[tuple[str, bytes], ...] = field(default=())


@dataclass(frozen=True, slots=True)
class Delivered:
    topic: str
    partition: int
    offset: int


class Publisher(Protocol):
    async def publish(self, records: Sequence[Outgoing]) -> list[Delivered]:
        """Send all records and return once the broker acknowledged every one, or raise BrokerUnavailable."""
        ...

    async def partitions(self, topic: str) -> list[int]: ...
