"""The Kafka transport: produce `UsageRecorded` records straight to the usage topic, for in-cluster services.

Needs the `kafka` extra (aiokafka, fastavro). There is no gateway on this path, so each event is checked
against the gateway's rules at produce time (see `usage_record`): what the gateway would refuse is
reported as a rejection with the gateway's code, never produced.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any, ParamSpec, TypeVar

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

from revos_sdk._config import Config
from revos_sdk._delivery.batch import Batch
from revos_sdk._errors import DeliveryError, EventRejected
from revos_sdk._transports.avro import usage_recorded_writer
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


class AsyncKafkaTransport:
    """Produces each batch with acks=all and answers once the broker acknowledged it (or failed)."""

    def __init__(self, config: Config) -> None:
        if config.kafka_bootstrap is None or config.tenant_id is None:
            raise ValueError("the Kafka transport needs kafka_bootstrap and tenant_id")
        self._tenant_id = config.tenant_id
        self._topic = config.kafka_topic
        self._settings = producer_settings(config)
        self._writer = usage_recorded_writer()
        self._producer: Any = None
        # Records of a failed send that the producer may still deliver, by event id.
        self._unsettled: dict[str, asyncio.Future[Any]] = {}

    async def send(self, batch: Batch, timeout: float) -> Sequence[EventResult]:
        now = datetime.now(UTC)  # the "received_at" of every record in the batch, as at the gateway
        results: list[EventResult] = []
        records: list[tuple[str, bytes, bytes]] = []
        for item in batch.items:
            try:
                fields = usage_record(item.id, item.payload, self._tenant_id, now)
                value = self._writer.encode(fields)
            except EventRejected as exc:
                results.append(EventResult(item.id, False, exc.code, exc.message))
                continue
            except (ValueError, TypeError) as exc:
                results.append(EventResult(item.id, False, "unencodable", f"{type(exc).__name__}: {exc}"))
                continue
            records.append((item.id, record_key(self._tenant_id, fields["customer"]), value))
        if records:
            results.extend(await self._produce(records, timeout))
        return results

    async def _produce(self, records: list[tuple[str, bytes, bytes]], timeout: float) -> list[EventResult]:
        results: list[EventResult] = []
        in_flight: dict[asyncio.Future[Any], str] = {}
        failure: BaseException | None = None
        try:
            async with asyncio.timeout(timeout):
                producer = await self._started()
                for event_id, key, value in records:
                    earlier = self._unsettled.pop(event_id, None)
                    if earlier is not None and not _failed(earlier):
                        # Still queued by the producer (or landed since): await it rather than doubling it.
                        in_flight[earlier] = event_id
                        continue
                    try:
                        in_flight[await producer.send(self._topic, value, key=key)] = event_id
                    except RECORD_ERRORS as exc:
                        results.append(EventResult(event_id, False, "record_too_large", str(exc)))
                if in_flight:
                    await asyncio.wait(in_flight.keys())
        except TimeoutError:
            failure = TimeoutError(f"the broker did not acknowledge within {timeout:.1f}s")
        except (KafkaError, OSError) as exc:
            failure = exc
        # A record that failed for good is of no further interest; one that landed is kept until its
        # event is sent again (or the transport closes), so that the resend is answered without producing.
        self._unsettled = {key: future for key, future in self._unsettled.items() if not _failed(future)}
        acknowledged, failure = _collect(in_flight, results, failure, self._unsettled)
        if failure is not None and not acknowledged:
            raise delivery_error(failure) from failure
        if failure is not None:
            log.warning("the broker acknowledged %d of %d record(s): %s", acknowledged, len(records), failure)
        return results

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


def _failed(future: asyncio.Future[Any]) -> bool:
    return future.done() and (future.cancelled() or future.exception() is not None)


def _collect(
    in_flight: dict[asyncio.Future[Any], str],
    results: list[EventResult],
    failure: BaseException | None,
    unsettled: dict[str, asyncio.Future[Any]],
) -> tuple[int, BaseException | None]:
    """Append a result per settled record and remember the unsettled ones; returns (acknowledged, failure)."""
    acknowledged = 0
    for future, event_id in in_flight.items():
        if not future.done():
            # No result, so the event comes back to be resent; the producer may still deliver this record.
            unsettled[event_id] = future
            future.add_done_callback(_retrieve)
            continue
        if future.cancelled():
            continue
        error = future.exception()
        if error is None:
            acknowledged += 1
            results.append(EventResult(event_id, True))
        elif isinstance(error, RECORD_ERRORS):
            results.append(EventResult(event_id, False, "record_too_large", str(error)))
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
