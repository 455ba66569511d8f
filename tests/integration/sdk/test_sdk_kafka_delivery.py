"""The Kafka transport against a real broker: every event read back exactly once, through outages too."""

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
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from revos_sdk import AsyncRevos, Event, EventRejected, Revos, RevosError

from infra.broker import EmbeddedBroker
from infra.kafka import ensure_topics
from infra.ports import free_port
from pipeline.codec import default_codec
from pipeline.records import UsageRecorded

TENANT = "ten_sdk_kafka"
# Quick retries, so outages in these tests cost little waiting.
FAST: dict[str, Any] = {
    "backoff_base": 0.05,
    "backoff_max": 0.3,
    "request_timeout": 3.0,
    "max_batch_wait": 0.05,
}


async def new_topic(bootstrap: str) -> str:
    topic = f"sdk-kafka-{uuid.uuid4().hex[:10]}"
    await ensure_topics(bootstrap, [topic], partitions=3)
    return topic


async def read_back(bootstrap: str, topic: str, timeout: float = 15.0) -> list[tuple[bytes, UsageRecorded]]:
    """Every record in `topic` up to its end offsets now, as (key, decoded record) pairs."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        await consumer.topics()  # loads the metadata partitions_for_topic answers from
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        assert partitions, f"topic {topic} has no partitions"
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        end = await consumer.end_offsets(partitions)
        records: list[tuple[bytes, UsageRecorded]] = []
        deadline = time.monotonic() + timeout
        while [tp for tp in partitions if await consumer.position(tp) < end[tp]]:
            assert time.monotonic() < deadline, "the records did not come back in time"
            for batch in (await consumer.getmany(timeout_ms=200)).values():
                for message in batch:
                    record = default_codec().decode(message.value)
                    assert isinstance(record, UsageRecorded)
                    records.append((message.key, record))
        return records
    finally:
        await consumer.stop()


def assert_exactly_once(records: list[tuple[bytes, UsageRecorded]], ids: set[str]) -> None:
    counts = Counter(record.event_id for _, record in records)
    assert set(counts) == ids, f"missing {len(ids - set(counts))}, unexpected {len(set(counts) - ids)}"
    assert max(counts.values()) == 1, f"{sum(n - 1 for n in counts.values())} duplicate(s)"
    for key, record in records:
        assert record.tenant_id == TENANT
        assert key == f"{TENANT}:{record.customer}".encode()


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
    outcome = next(record for _, record in records if record.event_id == exact)
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
        await ensure_topics(bootstrap, [topic], partitions=3)
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
        await ensure_topics(bootstrap, [topic], partitions=3)
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
