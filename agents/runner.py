"""Runs a tracked projection over Faust event batches so that no exception ever escapes an agent.

Transient errors (database or broker down) are retried with backoff and block the partition;
a batch that fails for any other reason is split, and a record that still fails alone, again and
again with the database answering, is dead-lettered with code `processing_error`, so the partition
moves on and nothing is lost. A record that holds many events (a usage batch) is isolated further:
only its failing events are dead-lettered, each alone, and the others are applied.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import asyncpg

from agents import metrics, observed
from pipeline import dead_letters
from pipeline.codec import Codec
from pipeline.errors import DecodeError
from pipeline.publishing import Outgoing, Publisher
from pipeline.records import DeadLetter
from pipeline.topics import dead_letter_topic
from projections import outbox, tracking
from projections.db import retry_forever
from projections.retryable import is_retryable

log = logging.getLogger(__name__)

# How many times a record must fail alone, with the database answering in between, to be poison.
POISON_CONFIRMATIONS = 3
# At most this many bytes of records are applied in one transaction (a batch record holds many events).
CHUNK_BYTES = 1 << 20
# Partitions of one projection applied at once (each holds a pooled connection while it applies).
SIDE_BY_SIDE = 4


@dataclass(frozen=True, slots=True)
class Message:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: tuple[tuple[str, bytes], ...]
    timestamp: datetime | None

    @classmethod
    def from_faust(cls, event: Any) -> Message:
        m = event.message
        raw_headers = m.headers or ()
        headers = raw_headers.items() if isinstance(raw_headers, dict) else raw_headers
        ts = datetime.fromtimestamp(m.timestamp, UTC) if m.timestamp else None
        return cls(m.topic, m.partition, m.offset, m.key, m.value or b"", tuple(headers), ts)


class Projection(Protocol):
    consumer: str
    stage: str

    async def apply(
        self, conn: asyncpg.Connection, topic: str, partition: int, messages: Sequence[Message]
    ) -> Sequence[DeadLetter | Outgoing]:
        """Apply messages in order inside the caller's transaction; return dead letters and derived
        records to publish (before the offset commits: at-least-once, with ids that deduplicate)."""
        ...

    # Optionally, `split(message) -> list[Message] | None`: the events a record holds, each as a message
    # of its own at the record's place in the log (applying one twice changes nothing); None for a
    # record that holds one. A poison event is then dead-lettered alone.


@dataclass(frozen=True, slots=True)
class Runtime:
    pool: asyncpg.Pool
    publisher: Publisher
    codec: Codec
    # Derived records and dead letters go to the outbox in the applying transaction (the relay publishes
    # them) instead of to the broker before the commit: with a broker that can lose its log, a record
    # must not leave PostgreSQL's keeping before the records it derives from are applied.
    outbox: bool = False
    outbox_origin: str = ""  # this database's outbox, named in the records its relay publishes

    async def emit(self, conn: asyncpg.Connection, records: Sequence[Outgoing]) -> None:
        """Send what a transaction produced: into the outbox with it, or to the broker before it commits."""
        if not records:
            return
        if self.outbox:
            await outbox.add(conn, records)
        else:
            # Acknowledged before the offset commits: at-least-once, deduplicated by id downstream.
            await self.publisher.publish(records)


async def _database_answers(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        await conn.fetchval("SELECT 1")


def dead_letter_for(
    stage: str, message: Message, code: str, text: str, error: BaseException | None = None, **extra: Any
) -> DeadLetter:
    return dead_letters.for_source_record(
        stage=stage,
        code=code,
        message=text,
        topic=message.topic,
        partition=message.partition,
        offset=message.offset,
        timestamp=message.timestamp,
        key=message.key,
        value=message.value,
        headers=message.headers,
        now=datetime.now(UTC),
        error=error,
        **extra,
    )


def group(messages: Iterable[Message]) -> dict[tuple[str, int], list[Message]]:
    groups: dict[tuple[str, int], list[Message]] = {}
    for m in messages:
        groups.setdefault((m.topic, m.partition), []).append(m)
    return groups


async def process(rt: Runtime, projection: Projection, messages: Sequence[Message]) -> None:
    """Apply a batch; returns only when every message is applied or dead-lettered. A projection whose
    partitions share no state (`partitions_apart = True`) has its partitions applied side by side, each
    in its own transaction on its own connection, so that one partition's fold overlaps another's SQL."""
    groups = group(messages).items()
    side_by_side = asyncio.Semaphore(SIDE_BY_SIDE)

    async def one(topic: str, partition: int, whole: list[Message]) -> None:
        async with side_by_side:
            for batch in chunks(whole):
                await _process_batch(rt, projection, topic, partition, batch)

    if getattr(projection, "partitions_apart", False) and len(groups) > 1:
        await asyncio.gather(*(one(t, p, whole) for (t, p), whole in groups))
    else:
        for (topic, partition), whole in groups:
            await one(topic, partition, whole)


def chunks(messages: list[Message], limit: int = CHUNK_BYTES) -> list[list[Message]]:
    """Consecutive runs of messages of at most `limit` bytes (a record larger than that goes alone)."""
    out: list[list[Message]] = []
    size = 0
    for m in messages:
        if not out or size + len(m.value) > limit:
            out.append([])
            size = 0
        out[-1].append(m)
        size += len(m.value)
    return out


async def _process_batch(
    rt: Runtime, projection: Projection, topic: str, partition: int, batch: list[Message]
) -> None:
    try:
        await retry_forever(
            lambda t=topic, p=partition, b=batch: _apply(rt, projection, t, p, b),  # type: ignore[misc]
            what=f"{projection.consumer} {topic}[{partition}]",
        )
    except Exception as exc:
        log.warning("batch on %s[%d] failed (%r); isolating the failing record", topic, partition, exc)
        for message in batch:
            await _apply_alone(rt, projection, message)


async def _apply(
    rt: Runtime, projection: Projection, topic: str, partition: int, batch: Sequence[Message]
) -> None:
    with observed.batch_span(projection.consumer, topic, partition, batch):
        await _apply_traced(rt, projection, topic, partition, batch)


async def _apply_traced(
    rt: Runtime, projection: Projection, topic: str, partition: int, batch: Sequence[Message]
) -> None:
    started = time.perf_counter()
    async with rt.pool.acquire() as conn, conn.transaction():
        start = await tracking.claim(conn, projection.consumer, topic, partition)
        todo = [m for m in batch if m.offset >= start]
        if not todo:
            return
        last = todo[-1].offset
        todo = await _unapplied(conn, rt.outbox_origin, todo)
        produced = await projection.apply(conn, topic, partition, todo) if todo else []
        await rt.emit(conn, [_as_outgoing(rt.codec, d) for d in produced])
        await tracking.advance(conn, projection.consumer, topic, partition, last + 1)
    metrics.applied(projection.consumer, len(todo), time.perf_counter() - started)
    metrics.dead_lettered(projection.consumer, [d.code for d in produced if isinstance(d, DeadLetter)])
    committed = getattr(projection, "committed", None)  # a projection with effects outside PostgreSQL
    if committed is not None:
        await committed()
    observed.log_applied(projection.consumer, topic, partition, todo)


async def _unapplied(conn: asyncpg.Connection, own: str, messages: list[Message]) -> list[Message]:
    """Take the outbox rows of `messages` and drop the messages whose row is already gone: those were
    applied before (the relay published them again), so applying them once more would repeat an effect.
    Records from another database's outbox (a projection rebuilt from the log) are all kept."""
    ids = {m.offset: i for m in messages if (i := outbox.outbox_id(m.headers, own)) is not None}
    if not ids:
        return messages
    kept = await outbox.take(conn, list(ids.values()))
    return [m for m in messages if m.offset not in ids or ids[m.offset] in kept]


async def _apply_alone(rt: Runtime, projection: Projection, message: Message) -> None:
    """Apply one record; dead-letter it only when it fails the same way with the database answering.

    An outage can surface as an error no classifier foresaw; judging a record poison only after
    `POISON_CONFIRMATIONS` failures, each followed by a database that answers, keeps an outage from
    ever turning a good record into a dead letter.
    """
    with observed.bound_to(message):
        await _apply_alone_bound(rt, projection, message)


async def _apply_alone_bound(rt: Runtime, projection: Projection, message: Message) -> None:
    where = f"{projection.consumer} {message.topic}[{message.partition}]@{message.offset}"
    failure: Exception | None = None
    for attempt in range(1, POISON_CONFIRMATIONS + 1):
        try:
            await retry_forever(
                lambda: _apply(rt, projection, message.topic, message.partition, [message]), what=where
            )
            return
        except Exception as exc:
            if is_retryable(exc):  # pragma: no cover - retry_forever only gives up on fatal errors
                raise
            failure = exc
            log.warning("record %s failed (%r), attempt %d of %d", where, exc, attempt, POISON_CONFIRMATIONS)
            if attempt < POISON_CONFIRMATIONS:
                await retry_forever(lambda: _database_answers(rt.pool), what="waiting for the database")
    assert failure is not None
    split = getattr(projection, "split", None)
    parts = split(message) if split is not None else None
    if parts:
        log.warning("record %s failed as a whole; isolating its failing events", where)
        await _apply_parts(rt, projection, message, parts)
        return
    log.error("record %s cannot be processed", where, exc_info=failure)
    dead = dead_letter_for(
        projection.stage, message, "processing_error", str(failure) or repr(failure), failure
    )

    async def skip() -> None:
        async with rt.pool.acquire() as conn, conn.transaction():
            start = await tracking.claim(conn, projection.consumer, message.topic, message.partition)
            if message.offset < start:
                return
            if await _unapplied(conn, rt.outbox_origin, [message]):
                await rt.emit(conn, [_outgoing(rt.codec, dead)])
            await tracking.advance(
                conn, projection.consumer, message.topic, message.partition, message.offset + 1
            )
        metrics.applied(projection.consumer, 1, 0.0)
        metrics.dead_lettered(projection.consumer, [dead.code])

    await retry_forever(skip, what="dead-lettering a poison record")


class _PartsFailed(Exception):
    """Some events of a record failed on an attempt that is not the last: roll the record back."""


async def _apply_parts(rt: Runtime, projection: Projection, message: Message, parts: list[Message]) -> None:
    """Apply a record's events in one transaction, each under a savepoint. Events that fail again and
    again, with the database answering in between, are dead-lettered alone; the others are applied, and
    the record's offset advances with them."""
    topic, partition = message.topic, message.partition
    where = f"{projection.consumer} {topic}[{partition}]@{message.offset}"
    failed: list[tuple[Message, Exception]] = []

    async def attempt(final: bool) -> None:
        with observed.batch_span(projection.consumer, topic, partition, [message]):
            await attempt_traced(final)

    async def attempt_traced(final: bool) -> None:
        failed.clear()
        async with rt.pool.acquire() as conn, conn.transaction():
            start = await tracking.claim(conn, projection.consumer, topic, partition)
            if message.offset < start:
                return
            if await _unapplied(conn, rt.outbox_origin, [message]):
                for part in parts:
                    try:
                        async with conn.transaction():  # a savepoint: a failing event leaves no trace
                            produced = await projection.apply(conn, topic, partition, [part])
                            await rt.emit(conn, [_as_outgoing(rt.codec, d) for d in produced])
                    except Exception as exc:
                        if is_retryable(exc):
                            raise
                        failed.append((part, exc))
                if failed and not final:
                    raise _PartsFailed
                dead = [
                    dead_letter_for(projection.stage, p, "processing_error", str(e) or repr(e), e)
                    for p, e in failed
                ]
                await rt.emit(conn, [_outgoing(rt.codec, d) for d in dead])
            await tracking.advance(conn, projection.consumer, topic, partition, message.offset + 1)
        metrics.applied(projection.consumer, len(parts), 0.0)
        metrics.dead_lettered(projection.consumer, ["processing_error"] * len(failed))

    for n in range(1, POISON_CONFIRMATIONS + 1):
        try:
            await retry_forever(lambda f=n == POISON_CONFIRMATIONS: attempt(f), what=where)  # type: ignore[misc]
            break
        except _PartsFailed:
            log.warning(
                "%d events of %s failed, attempt %d of %d", len(failed), where, n, POISON_CONFIRMATIONS
            )
            await retry_forever(lambda: _database_answers(rt.pool), what="waiting for the database")
    for part, exc in failed:
        log.error("an event of %s cannot be processed (%s)", where, part.key, exc_info=exc)
    committed = getattr(projection, "committed", None)
    if committed is not None:
        await committed()


def _as_outgoing(codec: Codec, produced: DeadLetter | Outgoing) -> Outgoing:
    return _outgoing(codec, produced) if isinstance(produced, DeadLetter) else produced


def _outgoing(codec: Codec, dead: DeadLetter) -> Outgoing:
    assert dead.source_topic is not None
    return Outgoing(
        topic=dead_letter_topic(dead.source_topic), key=dead.dead_letter_id.encode(), value=codec.encode(dead)
    )


def decode_all(
    codec: Codec, stage: str, messages: Sequence[Message]
) -> tuple[list[tuple[Message, Any]], list[DeadLetter]]:
    """Decode each message; the undecodable become dead letters with code `undecodable`."""
    decoded: list[tuple[Message, Any]] = []
    dead: list[DeadLetter] = []
    for m in messages:
        try:
            decoded.append((m, codec.decode(m.value)))
        except DecodeError as exc:
            dead.append(dead_letter_for(stage, m, exc.code, exc.message, exc))
    return decoded, dead


def unexpected(stage: str, message: Message, record: object) -> DeadLetter:
    """A dead letter for a record of a type that does not belong on the message's topic."""
    return dead_letter_for(
        stage, message, "unexpected_record", f"{type(record).__name__} does not belong on {message.topic}"
    )
