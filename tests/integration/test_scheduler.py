"""The scheduler against the real broker and database: expiries produced when due and applied as
ledger entries, watermarks on every partition, and one scheduler at a time."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from aiokafka import AIOKafkaConsumer

from agents.billing import BillingProjection
from agents.runner import Message, Runtime, process
from agents.scheduler import Scheduler
from pipeline.codec import default_codec
from pipeline.records import CreditsExpired, CreditsGranted, Watermark

codec = default_codec()
TENANT = "ten_sched"


@pytest.fixture
async def topic(new_topic) -> str:  # type: ignore[no-untyped-def]
    return await new_topic(2)


async def consume(bootstrap: str, topic: str, until: int, timeout: float = 10.0) -> list[Message]:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    found: list[Message] = []
    deadline = time.monotonic() + timeout
    try:
        while len(found) < until and time.monotonic() < deadline:
            for records in (await consumer.getmany(timeout_ms=200)).values():
                found += [Message(r.topic, r.partition, r.offset, r.key, r.value, (), None) for r in records]
    finally:
        await consumer.stop()
    return found


async def test_a_due_grant_expires_through_the_log_and_lands_in_the_ledger(
    runtime: Runtime,
    topic: str,
    broker,  # type: ignore[no-untyped-def]
) -> None:
    now = datetime.now(UTC)
    grant = CreditsGranted(
        "e_g",
        TENANT,
        "c1",
        "g",
        Decimal(10),
        0,
        now - timedelta(hours=1),
        now - timedelta(seconds=1),
        None,
        "t",
        now,
    )
    later = CreditsGranted(
        "e_h",
        TENANT,
        "c1",
        "h",
        Decimal(5),
        0,
        now - timedelta(hours=1),
        now + timedelta(hours=1),
        None,
        "t",
        now,
    )
    seed = [
        Message(topic + ".seed", 0, i, b"k", codec.encode(r), (), None) for i, r in enumerate([grant, later])
    ]
    await process(runtime, BillingProjection(codec), seed)

    scheduler = Scheduler(runtime.pool, runtime.publisher, codec, topic=topic)
    async with runtime.pool.acquire() as conn:
        assert await scheduler.once(conn) == 1  # only the grant that is due
        assert await scheduler.once(conn) == 0  # not produced again while it is being applied
    produced = await consume(broker.bootstrap_servers, topic, until=5)
    records = [codec.decode(m.value) for m in produced]
    expiries = [r for r in records if isinstance(r, CreditsExpired)]
    assert [(r.customer, r.grant_id, r.expires_at) for r in expiries] == [("c1", "g", grant.expires_at)]
    assert {m.partition for m, r in zip(produced, records, strict=True) if isinstance(r, Watermark)} == {0, 1}

    # Applying what the scheduler produced: the expiry is a ledger entry, the watermark is recorded.
    await process(runtime, BillingProjection(codec), produced)
    rows = await runtime.pool.fetch(
        "SELECT kind, amount, balance, reference FROM ledger_entries WHERE tenant_id = $1 ORDER BY seq",
        TENANT,
    )
    assert [tuple(r) for r in rows] == [
        ("grant", 10, 10, "g"),
        ("grant", 5, 15, "h"),
        ("expiry", -10, 5, "g"),
    ]
    assert await runtime.pool.fetchval("SELECT status FROM grants WHERE grant_id = 'g'") == "expired"
    assert await runtime.pool.fetchval("SELECT status FROM grants WHERE grant_id = 'h'") == "active"
    assert await runtime.pool.fetchval("SELECT count(*) FROM watermarks WHERE topic = $1", topic) >= 1


async def test_one_scheduler_runs_at_a_time_and_another_takes_over(runtime: Runtime, topic: str) -> None:
    first = Scheduler(runtime.pool, runtime.publisher, codec, tick=0.05, topic=topic)
    second = Scheduler(runtime.pool, runtime.publisher, codec, tick=0.05, topic=topic)

    async def until(condition, what: str) -> None:  # type: ignore[no-untyped-def]
        deadline = time.monotonic() + 10
        while not condition():
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            await asyncio.sleep(0.02)

    running = asyncio.create_task(first.run())
    await until(lambda: first.ticks >= 3, "the first scheduler to tick")
    standby = asyncio.create_task(second.run())
    ticked = first.ticks
    await until(lambda: first.ticks >= ticked + 20, "the first scheduler to go on ticking")
    assert second.ticks == 0  # it stood by while the first held the lock
    running.cancel()
    await asyncio.gather(running, return_exceptions=True)
    await until(lambda: second.ticks >= 3, "the second scheduler to take over")
    standby.cancel()
    await asyncio.gather(standby, return_exceptions=True)
