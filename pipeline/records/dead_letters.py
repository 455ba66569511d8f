"""Dead letters: records a stage could not process, and their replays."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar


@dataclass(frozen=True, slots=True)
class Header:
    key: str
    value: bytes


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A record a stage could not process, with what is needed to inspect and replay it."""

    SCHEMA: ClassVar[str] = "revos.DeadLetter"

    dead_letter_id: str
    stage: str
    code: str
    error_class: str
    message: str
    value: bytes
    first_failed_at: datetime
    last_failed_at: datetime
    app_version: str
    stack: str = ""
    tenant_id: str | None = None
    event_id: str | None = None
    source_topic: str | None = None
    source_partition: int | None = None
    source_offset: int | None = None
    source_timestamp: datetime | None = None
    key: bytes | None = None
    headers: tuple[Header, ...] = ()
    attempts: int = 1
    replay_count: int = 0
    schema_fingerprint: str | None = None


@dataclass(frozen=True, slots=True)
class DeadLetterReplayed:
    """A dead letter's original record was produced again to its source topic."""

    SCHEMA: ClassVar[str] = "revos.DeadLetterReplayed"

    dead_letter_id: str
    target_topic: str
    actor: str
    occurred_at: datetime
