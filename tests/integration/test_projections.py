"""Projection writers and the stream runner against a real PostgreSQL and broker (no Faust)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer

from agents.billing import BillingProjection
from agents.runner import Message, Runtime, process
from pipeline.codec import default_codec
from pipeline.records import (
    BurnRule,
    BurnTablePublished,
    CreditsGranted,
    DeadLetter,
    Record,
    UsageBatch,
    UsageRecorded,
)

NOW = datetime.now(UTC).replace(microsecond=0)
TENANT = "ten_it"
codec = default_codec()


@pytest.fixture
async def topic(new_topic) -> str:  # type: ignore[no-untyped-def]
    return await new_topic(1)


def table(version: int, per_unit: str, effective_at: datetime) -> BurnTablePublished:
    return BurnTablePublished(
        f"bt{version}",
        TENANT,
        "default",
        version,
        effective_at,
        (BurnRule("tokens", Decimal(per_unit)),),
        "test",
        NOW,
    )


def usage(
    event_id: str, quantity: str, at: datetime, customer: str = "c1", type_: str = "tokens"
) -> UsageRecorded:
    return UsageRecorded(event_id, TENANT, customer, type_, at, Decimal(quantity), {}, NOW)


def grant(grant_id: str, amount: str, customer: str = "c1") -> CreditsGranted:
    return CreditsGranted(
        "ev-" + grant_id,
        TENANT,
        customer,
        grant_id,
        Decimal(amount),
        0,
        NOW - timedelta(days=1),
        None,
        None,
        "t",
        NOW,
    )


def messages(topic: str, records: Sequence[Record | bytes], first_offset: int = 0) -> list[Message]:
    return [
        Message(topic, 0, first_offset + i, b"k", r if isinstance(r, bytes) else codec.encode(r), (), NOW)
        for i, r in enumerate(records)
    ]


async def dead_letters(bootstrap: str, topic: str, expected: int) -> list[DeadLetter]:
    consumer = AIOKafkaConsumer(topic + ".dlq", bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    found: list[DeadLetter] = []
    try:
        for _ in range(50):
            batch = await consumer.getmany(timeout_ms=200)
            for records in batch.values():
                found += [codec.decode(r.value) for r in records]  # type: ignore[misc]
            if len(found) >= expected:
                break
    finally:
        await consumer.stop()
    return found


async def balance(pool: asyncpg.Pool, customer: str = "c1") -> Decimal:
    remaining = await pool.fetchval(
        "SELECT coalesce(sum(remaining), 0) FROM grants WHERE tenant_id = $1 AND customer = $2",
        TENANT,
        customer,
    )
    debt = await pool.fetchval(
        "SELECT debt FROM customers WHERE tenant_id = $1 AND customer = $2", TENANT, customer
    )
    return Decimal(remaining) - Decimal(debt or 0)


async def test_a_batch_applied_twice_changes_nothing_the_second_time(runtime: Runtime, topic: str) -> None:
    batch = messages(
        topic,
        [
            table(1, "0.5", NOW - timedelta(hours=1)),
            grant("g1", "100"),
            usage("u1", "10", NOW),
            usage("u2", "4", NOW),
        ],
    )
    projection = BillingProjection(codec)
    await process(runtime, projection, batch)
    await process(runtime, projection, batch)  # a redelivery
    await process(runtime, BillingProjection(codec), batch)  # a redelivery to a fresh worker
    assert await balance(runtime.pool) == Decimal("93")
    assert await runtime.pool.fetchval("SELECT count(*) FROM charges") == 2
    assert (
        await runtime.pool.fetchval(
            "SELECT next_offset FROM stream_offsets WHERE consumer = 'billing' AND topic = $1", topic
        )
        == 4
    )


async def test_a_resent_event_in_a_later_batch_is_charged_once(runtime: Runtime, topic: str) -> None:
    projection = BillingProjection(codec)
    await process(
        runtime, projection, messages(topic, [table(1, "1", NOW - timedelta(hours=1)), usage("u1", "3", NOW)])
    )
    await process(runtime, projection, messages(topic, [usage("u1", "3", NOW)], first_offset=2))
    assert await balance(runtime.pool) == Decimal("-3")  # no grant: debt
    assert await runtime.pool.fetchval("SELECT count(*) FROM charges") == 1


async def test_undecodable_and_unpriced_records_are_dead_lettered_and_the_partition_moves_on(
    runtime: Runtime,
    topic: str,
    broker,  # type: ignore[no-untyped-def]
) -> None:
    batch = messages(
        topic,
        [
            table(1, "1", NOW - timedelta(hours=1)),
            b"\x00garbage",
            usage("u1", "2", NOW, type_="video"),
            usage("u2", "5", NOW),
        ],
    )
    await process(runtime, BillingProjection(codec), batch)
    assert await runtime.pool.fetchval("SELECT count(*) FROM charges") == 1
    found = await dead_letters(broker.bootstrap_servers, topic, 2)
    by_code = {d.code: d for d in found}
    assert set(by_code) == {"undecodable", "unpriced"}
    assert by_code["undecodable"].value == b"\x00garbage"
    assert by_code["undecodable"].source_offset == 1 and by_code["undecodable"].source_topic == topic
    assert by_code["unpriced"].event_id == "u1" and by_code["unpriced"].tenant_id == TENANT


class FailsOn:
    """A projection that fails with a non-retryable error on one offset: a poison record."""

    consumer = "poison"
    stage = "test.poison"

    def __init__(self, offset: int) -> None:
        self.offset = offset
        self.applied: list[int] = []

    async def apply(self, conn, topic, partition, batch):  # type: ignore[no-untyped-def]
        if any(m.offset == self.offset for m in batch):
            raise ValueError("poison")
        self.applied += [m.offset for m in batch]
        return []


class FailsAtFirst:
    """Fails on one record with an error no classifier knows, a set number of times, then works."""

    consumer = "test-flaky"
    stage = "test.flaky"

    def __init__(self, offset: int, failures: int) -> None:
        self.offset = offset
        self.failures = failures
        self.applied: list[int] = []

    async def apply(self, conn, topic, partition, batch):  # type: ignore[no-untyped-def]
        if self.failures and any(m.offset == self.offset for m in batch):
            self.failures -= 1
            raise RuntimeError("the pool lost its connection in an unforeseen way")
        self.applied += [m.offset for m in batch]
        return []


async def test_a_record_that_fails_oddly_but_then_applies_is_not_dead_lettered(
    runtime: Runtime, topic: str
) -> None:
    # One failure as part of the batch and one alone: fewer than the confirmations a poison needs.
    projection = FailsAtFirst(offset=1, failures=2)
    await process(runtime, projection, messages(topic, [b"a", b"b", b"c"]))  # type: ignore[list-item]
    assert projection.applied == [0, 1, 2]
    assert projection.failures == 0  # and offset 1 was applied, so it was never dead-lettered


async def test_a_poison_record_is_isolated_and_dead_lettered(runtime: Runtime, topic: str, broker) -> None:  # type: ignore[no-untyped-def]
    projection = FailsOn(offset=2)
    await process(runtime, projection, messages(topic, [b"a", b"b", b"c", b"d"]))  # type: ignore[list-item]
    assert projection.applied == [0, 1, 3]
    found = await dead_letters(broker.bootstrap_servers, topic, 1)
    assert [(d.code, d.source_offset, d.value) for d in found] == [("processing_error", 2, b"c")]
    assert "ValueError: poison" in found[0].stack


def batch(*events: UsageRecorded, batch_id: str = "req:0") -> UsageBatch:
    return UsageBatch(batch_id, TENANT, events, NOW)


async def test_batch_records_charge_each_event_once_within_and_across_them(
    runtime: Runtime, topic: str
) -> None:
    records: list[Record] = [
        table(1, "1", NOW - timedelta(hours=1)),
        grant("g1", "100"),
        batch(usage("u1", "2", NOW), usage("u2", "3", NOW), usage("u1", "2", NOW)),
        batch(usage("u2", "3", NOW), usage("u3", "4", NOW, customer="c2"), batch_id="req2:0"),
        usage("u3", "4", NOW, customer="c2"),
    ]
    projection = BillingProjection(codec)
    await process(runtime, projection, messages(topic, records))
    await process(runtime, BillingProjection(codec), messages(topic, records))  # redelivered to a new worker
    rows = await runtime.pool.fetch('SELECT event_id, credits, "offset" FROM charges ORDER BY event_id')
    assert [(r["event_id"], r["credits"], r["offset"]) for r in rows] == [
        ("u1", Decimal(2), 2),
        ("u2", Decimal(3), 2),
        ("u3", Decimal(4), 3),
    ]
    assert await balance(runtime.pool) == Decimal(95)
    assert await balance(runtime.pool, "c2") == Decimal(-4)


async def test_a_poison_event_in_a_batch_is_dead_lettered_alone_and_the_rest_charged(
    runtime: Runtime,
    topic: str,
    broker,  # type: ignore[no-untyped-def]
) -> None:
    # An event the database refuses every time, as a corrupt row would be: it must not take the others.
    await runtime.pool.execute(
        """
        CREATE FUNCTION refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF NEW.event_id = 'poison' THEN RAISE EXCEPTION 'poison event'; END IF;
            RETURN NEW;
        END $$;
        CREATE TRIGGER refuse_poison BEFORE INSERT ON charges FOR EACH ROW EXECUTE FUNCTION refuse_poison();
        """
    )
    poison = usage("poison", "5", NOW, customer="c2")
    records: list[Record] = [
        table(1, "1", NOW - timedelta(hours=1)),
        grant("g1", "100"),
        batch(usage("u1", "2", NOW), poison, usage("u2", "3", NOW)),
        usage("u3", "1", NOW),
    ]
    await process(runtime, BillingProjection(codec), messages(topic, records))
    charged = await runtime.pool.fetch("SELECT event_id FROM charges ORDER BY event_id")
    assert [r["event_id"] for r in charged] == ["u1", "u2", "u3"]
    assert await balance(runtime.pool) == Decimal(94)
    assert await balance(runtime.pool, "c2") == Decimal(0)  # the poison's charge left no trace
    [dead] = await dead_letters(broker.bootstrap_servers, topic, 1)
    assert (dead.code, dead.source_offset, dead.event_id) == ("processing_error", 2, None)
    assert dead.value == codec.encode(poison)  # the event alone: replaying it sends exactly that record
    assert dead.key == f"{TENANT}:c2".encode()
    assert "poison event" in dead.message
    offset = await runtime.pool.fetchval(
        "SELECT next_offset FROM stream_offsets WHERE consumer = 'billing' AND topic = $1", topic
    )
    assert offset == 4
