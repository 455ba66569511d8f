"""The raw baseline: plain aiokafka producing and consuming Avro usage records on the benchmark's broker."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from infra.errors import InfraError
from infra.kafka import ensure_topics
from pipeline.codec import default_codec
from pipeline.records import Properties, UsageRecorded
from pipeline.topics import customer_key

_CHUNK = 1000  # records sent before awaiting their acks, like one gateway request
_PROPERTIES: tuple[Properties, ...] = (
    {"model": "gpt-4o", "direction": "output"},
    {"model": "gpt-4o", "direction": "input"},
)


def _record(n: int, customers: int, now: datetime) -> UsageRecorded:
    return UsageRecorded(
        event_id=f"raw-{n}",
        tenant_id="bench",
        customer=f"cust_{n % customers}",
        type="llm.tokens",
        timestamp=now,
        quantity=Decimal(100 + n % 900),
        properties=_PROPERTIES[n % 2],
        received_at=now,
    )


async def produce(bootstrap: str, topic: str, events: int, customers: int) -> float:
    """Encode and produce `events` records, acks=all; the seconds it took."""
    codec = default_codec()
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        linger_ms=5,
        max_batch_size=1 << 20,
        max_request_size=4 << 20,
        enable_idempotence=False,
    )
    await producer.start()
    try:
        now = datetime.now(UTC)
        started = time.perf_counter()
        for start in range(0, events, _CHUNK):
            futures = []
            for n in range(start, min(start + _CHUNK, events)):
                record = _record(n, customers, now)
                value = codec.encode(record)
                futures.append(await producer.send(topic, value, key=customer_key("bench", record.customer)))
            await asyncio.gather(*futures)
        return time.perf_counter() - started
    finally:
        await producer.stop()


async def consume(bootstrap: str, topic: str, events: int, within: float) -> float:
    """Read and decode `events` records from every partition of `topic`; the seconds it took."""
    codec = default_codec()
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=4 << 20,
        fetch_max_bytes=16 << 20,
    )
    await consumer.start()
    try:
        partitions = sorted(await _partitions(consumer, topic))
        consumer.assign([TopicPartition(topic, p) for p in partitions])
        seen = 0
        started = time.perf_counter()
        deadline = started + within
        while seen < events:
            if time.perf_counter() > deadline:
                raise InfraError(f"the raw consumer read only {seen} of {events} records in {within:.0f}s")
            batches = await consumer.getmany(timeout_ms=500, max_records=5000)
            for messages in batches.values():
                for message in messages:
                    codec.decode(message.value)
                seen += len(messages)
        return time.perf_counter() - started
    finally:
        await consumer.stop()


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> set[int]:
    for _ in range(50):
        await consumer.topics()  # refreshes metadata, which may predate a topic just created
        found = consumer.partitions_for_topic(topic)
        if found:
            return set(found)
        await asyncio.sleep(0.1)
    raise InfraError(f"no partitions found for {topic}")


async def run(bootstrap: str, events: int, customers: int, partitions: int) -> dict[str, Any]:
    """Produce then consume `events` records on a fresh topic; rates for each phase and for both."""
    topic = "bench.raw-" + uuid.uuid4().hex[:8]
    await ensure_topics(bootstrap, [topic], partitions)
    produced = await produce(bootstrap, topic, events, customers)
    consumed = await consume(bootstrap, topic, events, within=max(60.0, produced * 10))
    return {
        "events": events,
        "topic": topic,
        "produce_seconds": round(produced, 3),
        "produce_events_per_s": round(events / produced),
        "consume_seconds": round(consumed, 3),
        "consume_events_per_s": round(events / consumed),
        "combined_seconds": round(produced + consumed, 3),
        "combined_events_per_s": round(events / (produced + consumed)),
    }
