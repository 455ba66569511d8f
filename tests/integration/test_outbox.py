"""The outbox against the real PostgreSQL and broker: commit order, rewinds, and applying each row once."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer

from agents.billing import BillingProjection
from agents.relay import OutboxRelay
from agents.runner import Message, Runtime, process
from pipeline.codec import default_codec
from pipeline.publishing import Outgoing
from pipeline.records import CreditsGranted
from pipeline.topics import OUTBOX_ID
from projections import outbox

codec = default_codec()
NOW = datetime(2026, 6, 1, tzinfo=UTC)


async def _consume(bootstrap: str, topic: str, expected: int) -> list[tuple[bytes, dict[str, bytes]]]:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    found: list[tuple[bytes, dict[str, bytes]]] = []
    try:
        for _ in range(100):
            for records in (await consumer.getmany(timeout_ms=100)).values():
                found += [(r.value, dict(r.headers)) for r in records]  # type: ignore[misc]
            if len(found) >= expected:
                break
    finally:
        await consumer.stop()
    return found


async def _relay_all(runtime: Runtime, relay: OutboxRelay) -> int:
    async with runtime.pool.acquire() as conn:
        own = await outbox.origin(conn)
        at = await outbox.cursor(conn)
        total = 0
        while True:
            at, sent = await relay.once(conn, own, at)
            if not sent:
                return total
            total += sent


async def test_rows_are_relayed_in_commit_order_even_when_a_lower_id_commits_last(
    runtime: Runtime,
    new_topic,
    broker,  # type: ignore[no-untyped-def]
) -> None:
    topic = await new_topic(1)
    relay = OutboxRelay(runtime.pool, runtime.publisher)
    early: asyncpg.Connection = await runtime.pool.acquire()
    try:
        slow = early.transaction()
        await slow.start()
        await outbox.add(early, [Outgoing(topic, b"first id, committed last")])
        async with runtime.pool.acquire() as conn:
            await outbox.add(conn, [Outgoing(topic, b"second id, committed first")])
        # The open transaction holds every later one back: nothing may pass the row it will commit.
        assert await _relay_all(runtime, relay) == 0
        await slow.commit()
    finally:
        await runtime.pool.release(early)
    assert await _relay_all(runtime, relay) == 2
    assert await _relay_all(runtime, relay) == 0  # the cursor moved past both
    values = [v for v, _ in await _consume(broker.bootstrap_servers, topic, 2)]
    assert values == [b"first id, committed last", b"second id, committed first"]


async def test_a_rewind_publishes_again_only_what_no_projection_applied(
    runtime: Runtime,
    new_topic,
    broker,  # type: ignore[no-untyped-def]
) -> None:
    topic = await new_topic(1)
    relay = OutboxRelay(runtime.pool, runtime.publisher)
    async with runtime.pool.acquire() as conn:
        await outbox.add(conn, [Outgoing(topic, f"r{i}".encode(), key=b"k") for i in range(5)])
    assert await _relay_all(runtime, relay) == 5
    published = await _consume(broker.bootstrap_servers, topic, 5)
    own = await outbox.origin(runtime.pool)
    ids = [outbox.outbox_id(headers.items(), own) for _, headers in published]
    assert all(ids)
    async with runtime.pool.acquire() as conn, conn.transaction():
        assert await outbox.take(conn, ids[:3]) == set(ids[:3])  # applied: their rows go
        assert await outbox.take(conn, ids[:3]) == set()  # and a second time finds nothing
    assert await outbox.pending(runtime.pool) == 2
    await outbox.rewind(runtime.pool)  # the broker's log is new
    assert await _relay_all(runtime, relay) == 2
    again = await _consume(broker.bootstrap_servers, topic, 7)
    assert [v for v, _ in again[5:]] == [b"r3", b"r4"]


def _grant(grant_id: str, amount: str) -> CreditsGranted:
    from decimal import Decimal

    return CreditsGranted(
        "ev-" + grant_id, "ten_outbox", "c1", grant_id, Decimal(amount), 0, NOW, None, None, "t", NOW
    )


@dataclasses.dataclass
class Counting:
    """A projection that notes the offsets it is given before the real one applies them."""

    inner: BillingProjection
    given: list[int] = dataclasses.field(default_factory=list)
    consumer: str = "billing"
    stage: str = "billing.charge"

    async def apply(self, conn: asyncpg.Connection, topic: str, partition: int, messages: Any) -> Any:
        self.given += [m.offset for m in messages]
        return await self.inner.apply(conn, topic, partition, messages)


async def test_a_record_published_twice_is_applied_once_and_one_from_another_outbox_is_applied(
    runtime: Runtime,
    new_topic,  # type: ignore[no-untyped-def]
) -> None:
    topic = await new_topic(1)
    rt = dataclasses.replace(runtime, outbox=True, outbox_origin=await outbox.origin(runtime.pool))
    async with rt.pool.acquire() as conn:
        await outbox.add(conn, [Outgoing(topic, codec.encode(_grant("g1", "10")), key=b"ten_outbox:c1")])
        row = (await outbox.after(conn, outbox.Cursor(), 10))[0]
    record = outbox.outgoing(row, rt.outbox_origin)

    def at(offset: int, headers: tuple[tuple[str, bytes], ...]) -> Message:
        return Message(topic, 0, offset, record.key, record.value, headers, NOW)

    projection = Counting(BillingProjection(codec))
    await process(rt, projection, [at(0, record.headers)])
    await process(rt, projection, [at(1, record.headers)])  # the relay published it twice
    assert projection.given == [0]  # the second copy never reached the projection
    granted = "SELECT count(*), sum(amount) FROM grants WHERE tenant_id = 'ten_outbox'"
    assert tuple(await rt.pool.fetchrow(granted)) == (1, 10)
    assert await outbox.pending(rt.pool) == 0
    # A log read by a database rebuilt from it names another outbox: its records are applied as usual.
    foreign = Message(
        topic, 0, 2, record.key, codec.encode(_grant("g2", "5")), ((OUTBOX_ID, b"other:1"),), NOW
    )
    await process(rt, projection, [foreign])
    assert tuple(await rt.pool.fetchrow(granted)) == (2, 15)


async def test_records_a_projection_derives_wait_in_the_outbox_with_its_transaction(
    runtime: Runtime,
    new_topic,  # type: ignore[no-untyped-def]
) -> None:
    topic = await new_topic(1)
    rt = dataclasses.replace(runtime, outbox=True, outbox_origin=await outbox.origin(runtime.pool))
    undecodable = Message(topic, 0, 0, b"k", b"\x00not a record", (), NOW)
    await process(rt, BillingProjection(codec), [undecodable])
    rows = await rt.pool.fetch("SELECT topic FROM outbox")
    assert [r["topic"] for r in rows] == [topic + ".dlq"]  # the dead letter, kept until applied


async def test_an_idle_relay_notices_a_rewind_and_publishes_again(
    runtime: Runtime,
    new_topic,  # type: ignore[no-untyped-def]
) -> None:
    topic = await new_topic(1)
    relay = OutboxRelay(runtime.pool, runtime.publisher)
    async with runtime.pool.acquire() as conn:
        await outbox.add(conn, [Outgoing(topic, b"a"), Outgoing(topic, b"b")])
        own = await outbox.origin(conn)
        at, sent = await relay.once(conn, own, await outbox.cursor(conn))
        assert sent == 2
        at, sent = await relay.once(conn, own, at)
        assert sent == 0  # idle, with nothing new to publish
        await outbox.rewind(conn)  # the broker's log is new
        at, sent = await relay.once(conn, own, at)
        at, again = await relay.once(conn, own, at)
        assert sent + again == 2  # both rows are published into the new log
