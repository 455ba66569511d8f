"""Building dead letters: everything needed to inspect a failure and replay the original record."""

from __future__ import annotations

import hashlib
import traceback
from collections.abc import Sequence
from datetime import datetime

from pipeline.records import DeadLetter, Header
from pipeline.topics import OUTBOX_ID, REPLAY_COUNT, REPLAY_OF
from pipeline.version import APP_VERSION

MAX_STACK = 4000
MAX_REPLAYS = 3  # generations of one record: a replay that fails again may be replayed, this many times


def dead_letter_id(stage: str, topic: str, partition: int, offset: int, value: bytes = b"") -> str:
    """Stable for one source record at one stage, so redelivery dead-letters it once; the value's digest
    keeps apart two records at one offset of two logs (a broker that lost its log numbers anew)."""
    h = hashlib.sha256(f"{stage}|{topic}|{partition}|{offset}|".encode())
    h.update(hashlib.sha256(value).digest())
    return "dl_" + h.hexdigest()[:24]


def bounded_stack(exc: BaseException | None) -> str:
    if exc is None:
        return ""
    text = "".join(traceback.format_exception(exc))
    return text[-MAX_STACK:]


def replay_count(headers: Sequence[tuple[str, bytes]]) -> int:
    for key, value in headers:
        if key == REPLAY_COUNT:
            try:
                return int(value.decode())
            except (UnicodeDecodeError, ValueError):
                return 0
    return 0


def replay_refusal(*, replay_count: int, replays: int) -> str | None:
    """Why a dead letter must not be replayed again (its record was replayed too often), or None."""
    if replay_count + replays >= MAX_REPLAYS:
        return f"already replayed {replay_count + replays} time(s); the limit is {MAX_REPLAYS}"
    return None


def replay_headers(
    original: Sequence[tuple[str, bytes]], dead_letter_id: str, replay_count: int
) -> tuple[tuple[str, bytes], ...]:
    """The headers of a replayed record: the original's, marked as a replay of `dead_letter_id`."""
    # The outbox id of the original is spent: its row went when the original was dead-lettered.
    kept = [(k, v) for k, v in original if k not in (REPLAY_OF, REPLAY_COUNT, OUTBOX_ID)]
    return (*kept, (REPLAY_OF, dead_letter_id.encode()), (REPLAY_COUNT, str(replay_count + 1).encode()))


def for_source_record(
    *,
    stage: str,
    code: str,
    message: str,
    topic: str,
    partition: int,
    offset: int,
    timestamp: datetime | None,
    key: bytes | None,
    value: bytes,
    headers: Sequence[tuple[str, bytes]],
    now: datetime,
    error: BaseException | None = None,
    error_class: str | None = None,
    tenant_id: str | None = None,
    event_id: str | None = None,
    schema_fingerprint: str | None = None,
    attempts: int = 1,
) -> DeadLetter:
    """A dead letter for a record read from `topic`; replay re-produces it there with the same key."""
    return DeadLetter(
        dead_letter_id=dead_letter_id(stage, topic, partition, offset, value or b""),
        stage=stage,
        code=code,
        error_class=error_class or (type(error).__name__ if error else code),
        message=message,
        stack=bounded_stack(error),
        tenant_id=tenant_id,
        event_id=event_id,
        source_topic=topic,
        source_partition=partition,
        source_offset=offset,
        source_timestamp=timestamp,
        key=key,
        value=value,
        headers=tuple(Header(k, v) for k, v in headers),
        attempts=attempts,
        replay_count=replay_count(headers),
        first_failed_at=now,
        last_failed_at=now,
        app_version=APP_VERSION,
        schema_fingerprint=schema_fingerprint,
    )
