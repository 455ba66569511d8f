"""The Kafka transport: produce usage records straight to the usage topic, for in-cluster services.

Needs the `kafka` extra (aiokafka, fastavro). There is no gateway on this path, so each event is checked
against the gateway's rules at produce time (see `usage_record`): what the gateway would refuse is
reported as a rejection with the gateway's code, never produced. The accepted events of a batch go out
as the gateway writes them: one `UsageBatch` per partition of the topic, a `UsageRecorded` for an event
alone on its partition.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ParamSpec, TypeVar
from uuid import uuid4

from aiokafka import AIOKafkaProducer
from aiokafka.errors import (
    AuthenticationFailedError,
    AuthenticationMethodNotSupported,
    ClusterAuthorizationFailedError,
    IllegalSaslStateError,
    InvalidTopicError,
    KafkaConfigurationError,
    KafkaError,
    MessageSizeTooLargeError,
    RecordTooLargeError,
    SaslAuthenticationFailed,
    TopicAuthorizationFailedError,
    UnsupportedSaslMechanismError,
)
from aiokafka.partitioner import murmur2

from revos_sdk._config import Config
from revos_sdk._delivery.batch import Batch
from revos_sdk._errors import DeliveryError, EventRejected
from revos_sdk._transports.avro import batch_fields, usage_batch_writer, usage_recorded_writer
from revos_sdk._transports.base import EventResult
from revos_sdk._transports.usage_record import record_key, usage_record
from revos_sdk._version import __version__

log = logging.getLogger("revos_sdk")

P = ParamSpec("P")
T = TypeVar("T")

# How long closing may wait for the producer to stop cleanly before abandoning what it still queues.
STOP_GRACE = 0.5
# Broker answers that resending cannot fix (the HTTP path's 401/403/400 at the scale of a whole batch).
FATAL_ERRORS: tuple[type[KafkaError], ...] = (
    AuthenticationFailedError,
    AuthenticationMethodNotSupported,
    ClusterAuthorizationFailedError,
    IllegalSaslStateError,
    InvalidTopicError,
    KafkaConfigurationError,
    SaslAuthenticationFailed,
    TopicAuthorizationFailedError,
    UnsupportedSaslMechanismError,
)
# ... and those about one record only: it is rejected, the rest of the batch goes on.
RECORD_ERRORS: tuple[type[KafkaError], ...] = (MessageSizeTooLargeError, RecordTooLargeError)


def producer_settings(config: Config) -> dict[str, Any]:
    """AIOKafkaProducer arguments: the platform's (acks=all) plus the user's `kafka_options`."""
    return {
        "client_id": f"revos-sdk-python/{__version__}",
        "request_timeout_ms": max(1, int(config.request_timeout * 1000)),
        "max_batch_size": config.max_batch_bytes,
        # Tansu (the embedded broker) lacks InitProducerId; event ids make resent records harmless.
        "enable_idempotence": False,
        **config.kafka_options,
        "bootstrap_servers": config.kafka_bootstrap,
        "acks": "all",
    }


def delivery_error(exc: BaseException) -> DeliveryError:
    """Classify a failure of the producer as a whole: fatal for auth and configuration, else retryable."""
    fatal = isinstance(exc, FATAL_ERRORS)
    if fatal:
        code = "broker_refused"
    elif isinstance(exc, TimeoutError):
        code = "timeout"
    else:
        code = "broker_unavailable"
    text, name = str(exc), type(exc).__name__
    # aiokafka's errors already name their class; others (OSError, TimeoutError) do not.
    message = text if text.startswith(name) else f"{name}: {text}"
    return DeliveryError(message, code=code, retryable=not fatal)


@dataclass(frozen=True, slots=True)
class _Valid:
    """An event the gateway would accept: its `UsageRecorded` fields and record key."""

    id: str
    fields: dict[str, Any]
    key: bytes


@dataclass(slots=True)
class _Record:
    """One record produced for this send: the events it holds (or, for a record of an earlier send the
    producer may still deliver, the events of this send that wait for it)."""

    partition: int
    events: list[_Valid]


class AsyncKafkaTransport:
    """Produces each batch with acks=all and answers once the broker acknowledged it (or failed).

    The events of a batch go out as one `UsageBatch` record per partition of the usage topic (an event alone
    on its partition as a `UsageRecorded`), placed and keyed as the gateway places them.
    """

    def __init__(self, config: Config) -> None:
        if config.kafka_bootstrap is None or config.tenant_id is None:
            raise ValueError("the Kafka transport needs kafka_bootstrap and tenant_id")
        self._tenant_id = config.tenant_id
        self._topic = config.kafka_topic
        self._settings = producer_settings(config)
        self._writer = usage_recorded_writer()
        self._batch_writer = usage_batch_writer()
        self._partitioner = Partitioner()
        self._producer: Any = None
        # Records of a failed send that the producer may still deliver, by the id of each event they hold.
        self._unsettled: dict[str, asyncio.Future[Any]] = {}

    async def send(self, batch: Batch, timeout: float) -> Sequence[EventResult]:
        now = datetime.now(UTC)  # the "received_at" of every event in the batch, as at the gateway
        results: list[EventResult] = []
        valid: list[_Valid] = []
        for item in batch.items:
            try:
                fields = usage_record(item.id, item.payload, self._tenant_id, now)
            except EventRejected as exc:
                results.append(EventResult(item.id, False, exc.code, exc.message))
                continue
            valid.append(_Valid(item.id, fields, record_key(self._tenant_id, fields["customer"])))
        if valid:
            results.extend(await self._produce(valid, now, timeout))
        return results

    async def _produce(self, events: list[_Valid], now: datetime, timeout: float) -> list[EventResult]:
        results: list[EventResult] = []
        in_flight: dict[asyncio.Future[Any], _Record] = {}
        failure: BaseException | None = None
        try:
            async with asyncio.timeout(timeout):
                producer = await self._started()
                partitions = sorted(await producer.partitions_for(self._topic))
                groups: dict[int, list[_Valid]] = {}
                for event in events:
                    partition = self._partitioner(event.key, partitions)
                    earlier = self._unsettled.pop(event.id, None)
                    if earlier is not None and not _failed(earlier):
                        # Still queued by the producer (or landed since): await it rather than doubling it.
                        in_flight.setdefault(earlier, _Record(partition, [])).events.append(event)
                        continue
                    groups.setdefault(partition, []).append(event)
                pending = [_Record(partition, group) for partition, group in groups.items()]
                while pending:
                    for record in pending:
                        await self._send(producer, record, now, in_flight, results)
                    if in_flight:
                        await asyncio.wait(in_flight.keys())
                    pending = _too_large(in_flight)
        except TimeoutError:
            failure = TimeoutError(f"the broker did not acknowledge within {timeout:.1f}s")
        except (KafkaError, OSError) as exc:
            failure = exc
        # A record that failed for good is of no further interest; one that landed is kept until its
        # events are sent again (or the transport closes), so that a resend is answered without producing.
        self._unsettled = {key: future for key, future in self._unsettled.items() if not _failed(future)}
        acknowledged, failure = _collect(in_flight, results, failure, self._unsettled)
        if failure is not None and not acknowledged:
            raise delivery_error(failure) from failure
        if failure is not None:
            log.warning("the broker acknowledged %d of %d event(s): %s", acknowledged, len(events), failure)
        return results

    async def _send(
        self,
        producer: Any,
        record: _Record,
        now: datetime,
        in_flight: dict[asyncio.Future[Any], _Record],
        results: list[EventResult],
    ) -> None:
        """Produce `record` (in halves, down to single events, while the producer finds it too large)."""
        for encoded, value in self._encode(record, now, results):
            try:
                # Placed by its key alone, which hashes to the group's partition: an explicit partition
                # from stale metadata (a topic made again with fewer partitions) could name one that no
                # longer exists, and the send would wait for it until it timed out.
                future = await producer.send(self._topic, value, key=encoded.events[0].key)
            except RECORD_ERRORS as exc:
                if len(encoded.events) == 1:
                    results.append(EventResult(encoded.events[0].id, False, "record_too_large", str(exc)))
                    continue
                for half in _halves(encoded):
                    await self._send(producer, half, now, in_flight, results)
                continue
            in_flight[future] = encoded

    def _encode(
        self, record: _Record, now: datetime, results: list[EventResult]
    ) -> list[tuple[_Record, bytes]]:
        """The bytes of `record`: a `UsageBatch`, or a `UsageRecorded` for one event. An event the schema
        cannot hold is rejected alone ("unencodable") and the rest are encoded without it."""
        if len(record.events) > 1:
            batch_id = f"sdk-{uuid4().hex[:16]}:{record.partition}"
            fields = batch_fields(batch_id, self._tenant_id, now, [event.fields for event in record.events])
            try:
                return [(record, self._batch_writer.encode(fields))]
            except (ValueError, TypeError):
                pass  # find the event(s) at fault
        alone: list[tuple[_Record, bytes]] = []
        for event in record.events:
            try:
                alone.append((_Record(record.partition, [event]), self._writer.encode(event.fields)))
            except (ValueError, TypeError) as exc:
                results.append(EventResult(event.id, False, "unencodable", f"{type(exc).__name__}: {exc}"))
        if 1 < len(alone) < len(record.events):
            return self._encode(_Record(record.partition, [r.events[0] for r, _ in alone]), now, results)
        return alone  # one event, none left, or a batch that fails although each event encodes: one by one

    async def _started(self) -> Any:
        if self._producer is None:
            producer = AIOKafkaProducer(**self._settings)
            try:
                await producer.start()
            except BaseException:
                await _stop(producer)  # also after a failed start, or aiokafka warns of an unclosed producer
                raise
            self._producer = producer
        return self._producer

    async def aclose(self) -> None:
        producer, self._producer = self._producer, None
        self._unsettled.clear()
        if producer is not None:
            await _stop(producer)


class Partitioner:
    """aiokafka's default partitioning (murmur2 of the key over the partitions sorted by id), which is the
    gateway's too; it remembers the hashes, as the hash is pure Python and the same customers come back."""

    def __init__(self, size: int = 100_000) -> None:
        self._hashes: dict[bytes, int] = {}
        self._size = size

    def __call__(self, key: bytes, partitions: Sequence[int]) -> int:
        h = self._hashes.get(key)
        if h is None:
            if len(self._hashes) >= self._size:
                self._hashes.clear()
            h = self._hashes[key] = murmur2(key) & 0x7FFFFFFF
        return partitions[h % len(partitions)]


def _failed(future: asyncio.Future[Any]) -> bool:
    return future.done() and (future.cancelled() or future.exception() is not None)


def _halves(record: _Record) -> tuple[_Record, _Record]:
    middle = len(record.events) // 2
    first, second = record.events[:middle], record.events[middle:]
    return _Record(record.partition, first), _Record(record.partition, second)


def _too_large(in_flight: dict[asyncio.Future[Any], _Record]) -> list[_Record]:
    """The halves of every record of several events the broker refused as too large, taken out of
    `in_flight` to be produced again."""
    again: list[_Record] = []
    for future, record in list(in_flight.items()):
        if len(record.events) > 1 and _failed(future) and isinstance(future.exception(), RECORD_ERRORS):
            del in_flight[future]
            again.extend(_halves(record))
    return again


def _collect(
    in_flight: dict[asyncio.Future[Any], _Record],
    results: list[EventResult],
    failure: BaseException | None,
    unsettled: dict[str, asyncio.Future[Any]],
) -> tuple[int, BaseException | None]:
    """Append a result per event of each settled record and remember the unsettled records by event id;
    returns (acknowledged events, failure)."""
    acknowledged = 0
    for future, record in in_flight.items():
        ids = [event.id for event in record.events]
        if not future.done():
            # No result, so the events come back to be resent; the producer may still deliver this record.
            unsettled.update(dict.fromkeys(ids, future))
            future.add_done_callback(_retrieve)
            continue
        if future.cancelled():
            continue
        error = future.exception()
        if error is None:
            acknowledged += len(ids)
            results.extend(EventResult(event_id, True) for event_id in ids)
        elif isinstance(error, RECORD_ERRORS):
            if len(ids) == 1:  # a larger record is split when its events come back
                results.append(EventResult(ids[0], False, "record_too_large", str(error)))
        elif failure is None or isinstance(error, FATAL_ERRORS):
            failure = error
    return acknowledged, failure


def _retrieve(future: asyncio.Future[Any]) -> None:
    # A record nobody awaits any more: take its outcome, or asyncio logs it as never retrieved.
    if not future.cancelled() and future.exception() is not None:
        log.debug("an abandoned record was not delivered: %s", future.exception())


async def _stop(producer: Any) -> None:
    try:
        async with asyncio.timeout(STOP_GRACE):
            await producer.stop()
        return
    except TimeoutError:
        log.warning("the Kafka producer did not stop within %.1fs; abandoning its records", STOP_GRACE)
    except (KafkaError, OSError):
        log.exception("stopping the Kafka producer failed")
    # aiokafka has no abort: stop() waits until every queued record is acknowledged or expires
    # (request_timeout). Past the grace, finish what stop() does (it already marked the producer closed)
    # without that wait: their events were reported unresolved and are saved or resent elsewhere.
    try:
        async with asyncio.timeout(STOP_GRACE):
            await producer._sender.close()
            await producer.client.close()
    except (TimeoutError, KafkaError, OSError) as exc:
        log.warning("closing the Kafka producer's connections failed: %r", exc)


class _InlineExecutor(ThreadPoolExecutor):
    """Runs each call on the calling thread; the private loop's only executor work is name resolution."""

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        future: Future[T] = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except Exception as exc:
            future.set_exception(exc)
        return future


class KafkaTransport:
    """The synchronous twin for `Revos`: an AsyncKafkaTransport on a private event loop in the batcher thread.

    The loop runs only inside `send()` and `close()`, which the batcher calls from its one thread. It starts
    no executor threads (name lookups run inline, as with HTTP), so it also works at interpreter exit.
    """

    def __init__(self, config: Config) -> None:
        self._inner = AsyncKafkaTransport(config)
        self._loop: asyncio.AbstractEventLoop | None = None

    def _run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        if self._loop is None:
            loop = asyncio.new_event_loop()
            loop.set_default_executor(_InlineExecutor(max_workers=1))
            self._loop = loop
        return self._loop.run_until_complete(coroutine)

    def send(self, batch: Batch, timeout: float) -> Sequence[EventResult]:
        return self._run(self._inner.send(batch, timeout))

    def close(self) -> None:
        if self._loop is None:
            return
        try:
            self._run(self._inner.aclose())
        finally:
            loop, self._loop = self._loop, None
            _close_loop(loop)


def _close_loop(loop: asyncio.AbstractEventLoop) -> None:
    """Cancel what aiokafka left running (as asyncio.run does), then close the loop."""
    try:
        leftovers = asyncio.all_tasks(loop)
        for task in leftovers:
            task.cancel()
        if leftovers:
            loop.run_until_complete(asyncio.gather(*leftovers, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())
    finally:
        loop.close()
