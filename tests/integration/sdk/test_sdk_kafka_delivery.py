"""The Kafka transport against a real broker: every event read back exactly once, through outages too, in
one record per partition per batch."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
import time
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.partitioner import DefaultPartitioner
from revos_sdk import AsyncRevos, Config, DeliveryError, Event, EventRejected, Revos, RevosError
from revos_sdk._delivery.batch import Batch, Pending
from revos_sdk._event import encode_event
from revos_sdk.kafka import AsyncKafkaTransport

from infra.broker import EmbeddedBroker
from infra.kafka import ensure_topics
from infra.ports import free_port
from pipeline.codec import default_codec
from pipeline.records import UsageBatch, UsageRecorded

TENANT = "ten_sdk_kafka"
PARTITIONS = 3
# Quick retries, so outages in these tests cost little waiting.
FAST: dict[str, Any] = {
    "backoff_base": 0.05,
    "backoff_max": 0.3,
    "request_timeout": 3.0,
    "max_batch_wait": 0.05,
}


async def new_topic(bootstrap: str) -> str:
    topic = f"sdk-kafka-{uuid.uuid4().hex[:10]}"
    await ensure_topics(bootstrap, [topic], partitions=PARTITIONS)
    return topic


class Landed(NamedTuple):
    """One record read back from the topic."""

    key: bytes
    partition: int
    record: UsageRecorded | UsageBatch
    partitions: (
        int  # of the topic (a topic the producer asked for first was created with the broker's default)
    )

    @property
    def events(self) -> tuple[UsageRecorded, ...]:
        return self.record.events if isinstance(self.record, UsageBatch) else (self.record,)


async def read_back(bootstrap: str, topic: str, timeout: float = 15.0) -> list[Landed]:
    """Every record in `topic` up to its end offsets now, decoded by the platform's codec."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        await consumer.topics()  # loads the metadata partitions_for_topic answers from
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        assert partitions, f"topic {topic} has no partitions"
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        end = await consumer.end_offsets(partitions)
        records: list[Landed] = []
        deadline = time.monotonic() + timeout
        while [tp for tp in partitions if await consumer.position(tp) < end[tp]]:
            assert time.monotonic() < deadline, "the records did not come back in time"
            for batch in (await consumer.getmany(timeout_ms=200)).values():
                for message in batch:
                    record = default_codec().decode(message.value)
                    assert isinstance(record, UsageRecorded | UsageBatch)
                    records.append(Landed(message.key, message.partition, record, len(partitions)))
        return records
    finally:
        await consumer.stop()


def placed(customer: str, partitions: int = PARTITIONS) -> int:
    """The partition the platform's producers place a customer's records on (aiokafka's default)."""
    return DefaultPartitioner()(f"{TENANT}:{customer}".encode(), list(range(partitions)), [])


def assert_exactly_once(records: list[Landed], ids: set[str]) -> None:
    """Each event once, every record on its events' partition and keyed by its first event's customer."""
    counts = Counter(event.event_id for landed in records for event in landed.events)
    assert set(counts) == ids, f"missing {len(ids - set(counts))}, unexpected {len(set(counts) - ids)}"
    assert max(counts.values()) == 1, f"{sum(n - 1 for n in counts.values())} duplicate(s)"
    for landed in records:
        first = landed.events[0]
        assert landed.key == f"{TENANT}:{first.customer}".encode()
        if isinstance(landed.record, UsageBatch):
            assert len(landed.events) > 1, "an event alone on its partition goes as a UsageRecorded"
            assert landed.record.tenant_id == TENANT
        for event in landed.events:
            assert event.tenant_id == TENANT
            assert placed(event.customer, landed.partitions) == landed.partition


def usages(records: list[Landed]) -> list[UsageRecorded]:
    return [event for landed in records for event in landed.events]


async def eventually(condition: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


async def test_the_sync_client_produces_every_event_once(broker: Any) -> None:
    topic = await new_topic(broker.bootstrap_servers)
    errors: list[tuple[list[Event], RevosError]] = []
    revos = Revos(
        kafka_bootstrap=broker.bootstrap_servers,
        tenant_id=TENANT,
        kafka_topic=topic,
        on_error=lambda events, error: errors.append((events, error)),
        **FAST,
    )
    started = datetime.now(UTC)
    ids = {revos.track(f"cust_{i % 7}", "llm.tokens", i + 1, {"model": "gpt-4o"}) for i in range(600)}
    exact = revos.track("cust_x", "report.completed", Decimal("2.5"), {"pages": 12, "draft": False})
    stale = revos.track("cust_x", "llm.tokens", timestamp=started - timedelta(days=40))
    assert await asyncio.to_thread(revos.flush, 15)
    stats = revos.stats()
    await asyncio.to_thread(revos.close)

    records = await read_back(broker.bootstrap_servers, topic)
    assert_exactly_once(records, ids | {exact})
    assert (stats["sent"], stats["rejected"], stats["retried"]) == (601, 1, 0)
    # What the gateway would refuse never reaches the topic: it goes to on_error with the gateway's code.
    [(events, error)] = errors
    assert [event.id for event in events] == [stale]
    assert isinstance(error, EventRejected) and error.code == "timestamp_out_of_window"
    outcome = next(event for event in usages(records) if event.event_id == exact)
    assert outcome.quantity == Decimal("2.5") and outcome.properties == {"pages": 12, "draft": False}
    assert outcome.received_at is not None and started <= outcome.timestamp <= outcome.received_at


async def test_the_async_client_produces_every_event_once(broker: Any) -> None:
    topic = await new_topic(broker.bootstrap_servers)
    async with AsyncRevos(
        kafka_bootstrap=broker.bootstrap_servers,
        tenant_id=TENANT,
        kafka_topic=topic,
        max_batch_events=40,
        **FAST,
    ) as revos:
        ids = {revos.track(f"cust_{i % 5}", "llm.tokens", str(i + 1)) for i in range(400)}
        assert await revos.flush(15)
        stats = revos.stats()

    assert_exactly_once(await read_back(broker.bootstrap_servers, topic), ids)
    assert (stats["sent"], stats["retried"], stats["failed"]) == (400, 0, 0)


async def test_events_wait_for_a_broker_that_is_down_at_first(revos_home: Path) -> None:
    port = free_port()
    bootstrap = f"127.0.0.1:{port}"
    topic = "usage-after-outage"
    revos = Revos(kafka_bootstrap=bootstrap, tenant_id=TENANT, kafka_topic=topic, **FAST)
    down = EmbeddedBroker(revos_home, port)
    try:
        ids = {revos.track(f"cust_{i % 3}", "llm.tokens", i + 1) for i in range(300)}
        await eventually(lambda: revos.stats()["retried"] >= 3 * 100, "retries against the missing broker")
        assert revos.stats()["sent"] == 0

        await asyncio.to_thread(down.start)
        await ensure_topics(bootstrap, [topic], partitions=PARTITIONS)
        assert await asyncio.to_thread(revos.flush, 20)
        stats = revos.stats()
        await asyncio.to_thread(revos.close)

        assert_exactly_once(await read_back(bootstrap, topic), ids)
        assert (stats["sent"], stats["failed"], stats["dropped"]) == (300, 0, 0)
    finally:
        await asyncio.to_thread(revos.close)
        await asyncio.to_thread(down.stop)


async def test_spooled_events_are_produced_by_the_next_client(revos_home: Path, tmp_path: Path) -> None:
    port = free_port()
    bootstrap = f"127.0.0.1:{port}"
    topic = "usage-from-spool"
    spool = tmp_path / "spool"
    options: dict[str, Any] = {
        "kafka_bootstrap": bootstrap,
        "tenant_id": TENANT,
        "kafka_topic": topic,
        **FAST,
    }

    # The broker is down for this whole process: its events stay in the spool when it closes.
    first = AsyncRevos(spool_dir=spool, **options)
    ids = {first.track("cust_1", "llm.tokens", i + 1) for i in range(150)}
    await eventually(lambda: first.stats()["retried"] > 0, "retries against the missing broker")
    await first.close(timeout=0.3)
    assert first.stats()["sent"] == 0

    broker = EmbeddedBroker(revos_home, port)
    await asyncio.to_thread(broker.start)
    try:
        await ensure_topics(bootstrap, [topic], partitions=PARTITIONS)
        async with AsyncRevos(spool_dir=spool, **options) as second:
            # It adopts the spool at start and replays it in the background: no track() needed.
            await eventually(lambda: second.stats()["sent"] == 150, "the spooled events to be produced", 20)
            stats = second.stats()
        assert_exactly_once(await read_back(bootstrap, topic), ids)
        assert stats["replayed"] == 150 and stats["failed"] == 0
        assert list(spool.iterdir()) == []
    finally:
        await asyncio.to_thread(broker.stop)


EXITING = textwrap.dedent(
    """
    import asyncio, sys
    from revos_sdk import AsyncRevos, Revos

    bootstrap, tenant, topic, kind = sys.argv[1:]
    options = {"kafka_bootstrap": bootstrap, "tenant_id": tenant, "kafka_topic": topic}
    if kind == "sync":
        revos = Revos(**options)
        for i in range(1000):
            revos.track(f"cust_{i % 4}", "llm.tokens", id=f"exit-{i}")
    else:
        async def main():
            revos = AsyncRevos(**options)  # never closed: asyncio.run() ends with events unsent
            for i in range(1000):
                revos.track(f"cust_{i % 4}", "llm.tokens", id=f"exit-{i}")

        asyncio.run(main())
    # No flush, no close: the exit hook must deliver.
    """
)


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_events_tracked_just_before_exit_are_produced(broker: Any, kind: str) -> None:
    topic = await new_topic(broker.bootstrap_servers)
    result = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-c", EXITING, broker.bootstrap_servers, TENANT, topic, kind],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    assert_exactly_once(await read_back(broker.bootstrap_servers, topic), {f"exit-{i}" for i in range(1000)})


def transport_config(bootstrap: str, topic: str, **options: Any) -> Config:
    return Config.from_env(env={}, kafka_bootstrap=bootstrap, tenant_id=TENANT, kafka_topic=topic, **options)


def pending(event_id: str, customer: str, **properties: object) -> Pending:
    return Pending(event_id, encode_event(event_id, customer, "llm.tokens", 2, properties or None))


async def test_a_batch_goes_out_as_one_record_per_partition(broker: Any) -> None:
    topic = await new_topic(broker.bootstrap_servers)
    transport = AsyncKafkaTransport(transport_config(broker.bootstrap_servers, topic))
    try:
        many = Batch(tuple(pending(f"m{i}", f"cust_{i % 20}") for i in range(60)))
        assert [r.accepted for r in await transport.send(many, 10)] == [True] * 60
        by_partition = {placed(f"cust_{i}") for i in range(20)}
        assert by_partition == set(range(PARTITIONS)), "the customers should cover every partition"
        # Two events on different partitions: each alone, so each goes as a UsageRecorded.
        apart = next(c for c in (f"other_{i}" for i in range(100)) if placed(c) != placed("cust_0"))
        pair = Batch((pending("p0", "cust_0"), pending("p1", apart)))
        assert [r.accepted for r in await transport.send(pair, 10)] == [True, True]
    finally:
        await transport.aclose()

    records = await read_back(broker.bootstrap_servers, topic)
    assert_exactly_once(records, {f"m{i}" for i in range(60)} | {"p0", "p1"})
    batches = [landed for landed in records if isinstance(landed.record, UsageBatch)]
    assert sorted(landed.partition for landed in batches) == list(range(PARTITIONS))
    for landed in batches:
        # In the order tracked, received together.
        expected = [f"m{i}" for i in range(60) if placed(f"cust_{i % 20}") == landed.partition]
        assert [event.event_id for event in landed.events] == expected
        assert {event.received_at for event in landed.events} == {landed.record.received_at}
    alone = sorted(landed.record.event_id for landed in records if isinstance(landed.record, UsageRecorded))
    assert alone == ["p0", "p1"]


async def test_a_resend_after_a_timeout_waits_for_the_records_still_queued(broker: Any) -> None:
    topic = await new_topic(broker.bootstrap_servers)
    # The producer holds records this long before sending them, so a short send times out with them queued.
    config = transport_config(broker.bootstrap_servers, topic, kafka_options={"linger_ms": 1500})
    transport = AsyncKafkaTransport(config)
    try:
        warm = await transport.send(Batch((pending("warm", "cust_0"),)), 10)  # connected, metadata known
        assert [r.accepted for r in warm] == [True]
        first = Batch(tuple(pending(f"a{i}", f"cust_{i % 9}") for i in range(30)))
        with pytest.raises(DeliveryError) as failed:
            await transport.send(first, 0.3)
        assert failed.value.code == "timeout" and failed.value.retryable
        # Sent again with events never sent before: the first ones are awaited, not produced again.
        again = Batch(first.items + tuple(pending(f"b{i}", f"cust_{i % 9}") for i in range(12)))
        results = await transport.send(again, 10)
        assert sorted(r.id for r in results if r.accepted) == sorted(again.ids)
    finally:
        await transport.aclose()

    records = await read_back(broker.bootstrap_servers, topic)
    assert_exactly_once(records, {"warm"} | set(again.ids))
    for landed in records:
        # No record mixes the awaited events with the new ones.
        assert len({event.event_id[0] for event in landed.events}) == 1, landed


async def test_a_record_too_large_is_split_and_an_event_too_large_alone_is_rejected(broker: Any) -> None:
    topic = await new_topic(broker.bootstrap_servers)
    limit = 2048
    config = transport_config(broker.bootstrap_servers, topic, kafka_options={"max_request_size": limit})
    transport = AsyncKafkaTransport(config)
    filler = "x" * 150
    try:
        items = tuple(pending(f"s{i}", f"cust_{i % 5}", note=filler) for i in range(40))
        huge = pending("huge", "cust_0", **{f"p{i}": "y" * 1000 for i in range(3)})
        results = {r.id: r for r in await transport.send(Batch((*items, huge)), 10)}
    finally:
        await transport.aclose()

    assert set(results) == {item.id for item in items} | {"huge"}
    assert (results["huge"].accepted, results["huge"].code) == (False, "record_too_large")
    assert all(results[item.id].accepted for item in items)
    records = await read_back(broker.bootstrap_servers, topic)
    assert_exactly_once(records, {item.id for item in items})
    # 40 events of ~200 bytes do not fit 2 KiB per partition: more records than partitions, but still batches.
    assert len(records) > PARTITIONS
    assert any(isinstance(landed.record, UsageBatch) for landed in records)
