"""Bytes no schema can read become dead letters without stalling their partition; replay has limits."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from e2e_stack import Stack, eventually
from test_delivery import revos, setup_tenant, wait_for_charges

from pipeline.dead_letters import MAX_REPLAYS
from pipeline.topics import BILLING, REPLAY_COUNT, REPLAY_OF, customer_key

GARBAGE = b"\xde\xad\xbe\xef this was never Avro"


def has_header(stored: str, key: str, value: bytes) -> bool:
    """Whether a dead letter's stored headers hold exactly this header (compared as bytes)."""
    return any(
        bytes.fromhex(h["key_hex"]) == key.encode() and bytes.fromhex(h["value_hex"]) == value
        for h in json.loads(stored)
    )


async def produce_raw(
    stack: Stack, key: bytes, value: bytes, headers: list[tuple[str, bytes]]
) -> tuple[int, int]:
    """Produce one record straight to the billing topic, bypassing the gateway; its partition and offset."""
    producer = AIOKafkaProducer(bootstrap_servers=stack.settings.bootstrap_servers, acks="all")
    await producer.start()
    try:
        sent = await producer.send_and_wait(BILLING, value, key=key, headers=headers)
    finally:
        await producer.stop()
    return sent.partition, sent.offset


async def dead_letter(stack: Stack, where: str, *args: Any, what: str) -> dict[str, Any]:
    """The one dead letter matching `where`, once the worker has projected it."""
    assert stack.pool is not None

    async def found() -> dict[str, Any] | None:
        rows = await stack.pool.fetch(f"SELECT * FROM dead_letters WHERE {where}", *args)  # type: ignore[union-attr]
        assert len(rows) <= 1, rows
        return dict(rows[0]) if rows else None

    row: dict[str, Any] = await eventually(found, what=what)
    return row


async def replays_of(stack: Stack, dead_letter_id: str) -> int:
    assert stack.pool is not None
    n: int = await stack.pool.fetchval(
        "SELECT replays FROM dead_letters WHERE dead_letter_id = $1", dead_letter_id
    )
    return n


async def cli(stack: Stack, *args: str) -> Any:
    return await asyncio.to_thread(revos, stack, *args)


async def test_undecodable_records_are_dead_lettered_and_replayed_at_most_three_times(stack: Stack) -> None:
    tenant = await setup_tenant(stack, ["cust_a"])
    tenant_id = tenant["tenant_id"]
    key = customer_key(tenant_id, "cust_a")
    partition, offset = await produce_raw(stack, key, GARBAGE, [("origin", b"e2e")])

    original = await dead_letter(
        stack,
        "code = 'undecodable' AND source_topic = $1 AND source_partition = $2 AND source_offset = $3",
        BILLING,
        partition,
        offset,
        what="the undecodable record as a dead letter",
    )
    assert original["stage"] == "billing.charge" and original["topic"] == BILLING + ".dlq"
    assert bytes(original["key"]) == key and bytes(original["value"]) == GARBAGE
    assert has_header(original["headers"], "origin", b"e2e")
    assert original["replay_count"] == 0 and original["stack"]

    # The partition moved on: an event after the bad record on the same key is charged.
    async with stack.client(tenant["api_key"]) as api:
        sent = await api.post(
            "/v1/events",
            json={
                "events": [
                    {"id": "after-garbage", "customer": "cust_a", "type": "report.completed"},
                    {"id": "rejected", "customer": "cust_a", "type": "report.completed", "quantity": "-1"},
                ]
            },
        )
        assert sent.json()["accepted"] == 1, sent.text
    assert stack.pool is not None
    await wait_for_charges(stack.pool, tenant_id, 1)
    charge = await stack.pool.fetchrow(
        'SELECT partition, "offset" FROM charges WHERE tenant_id = $1 AND event_id = $2',
        tenant_id,
        "after-garbage",
    )
    assert charge["partition"] == partition and charge["offset"] > offset

    shown = await cli(stack, "dlq", "show", original["dead_letter_id"])
    assert shown.returncode == 0, shown.stderr
    printed = json.loads(shown.stdout)
    assert printed["dead_letter_id"] == original["dead_letter_id"] and printed["code"] == "undecodable"
    assert printed["value"] == GARBAGE.hex() and printed["key"] == key.hex()
    assert printed["source_topic"] == BILLING and printed["source_offset"] == offset

    # A rejection at the gateway never reached a topic: there is nothing to replay.
    gateway = await dead_letter(
        stack,
        "stage = 'gateway.ingest' AND tenant_id = $1 AND event_id = 'rejected'",
        tenant_id,
        what="the gateway's rejection as a dead letter",
    )
    refused = await cli(stack, "dlq", "replay", gateway["dead_letter_id"])
    assert refused.returncode != 0
    assert "refused" in refused.stderr and "rejected at the gateway" in refused.stderr, refused.stderr
    assert await replays_of(stack, gateway["dead_letter_id"]) == 0

    # Each replay re-produces the same bytes under the same key, which fail again one generation later.
    current = original
    for generation in range(1, MAX_REPLAYS + 1):
        replayed = await cli(stack, "dlq", "replay", current["dead_letter_id"])
        assert replayed.returncode == 0, replayed.stderr
        assert "1 replayed, 0 refused" in replayed.stdout
        marker = json.dumps([{"key": REPLAY_OF, "value": current["dead_letter_id"]}])
        again = await dead_letter(
            stack,
            "code = 'undecodable' AND headers @> $1::jsonb",
            marker,
            what=f"replay {generation} dead-lettered again",
        )
        assert again["replay_count"] == generation
        assert has_header(again["headers"], REPLAY_COUNT, str(generation).encode())
        assert has_header(again["headers"], "origin", b"e2e")
        assert bytes(again["value"]) == GARBAGE and bytes(again["key"]) == key
        assert again["source_partition"] == partition and again["source_offset"] > current["source_offset"]

        async def marked(dead_letter_id: str = current["dead_letter_id"]) -> bool:
            return await replays_of(stack, dead_letter_id) == 1

        await eventually(marked, what="the replay recorded on the dead letter it came from")
        current = again

    exhausted = await cli(stack, "dlq", "replay", current["dead_letter_id"])
    assert exhausted.returncode != 0
    assert f"already replayed {MAX_REPLAYS} time(s); the limit is {MAX_REPLAYS}" in exhausted.stderr, (
        exhausted.stderr
    )
    assert "0 replayed, 1 refused" in exhausted.stdout
    assert await replays_of(stack, current["dead_letter_id"]) == 0

    # The limit also counts replays of one dead letter: the original may go twice more, then no more.
    for times in (2, 3):
        assert (await cli(stack, "dlq", "replay", original["dead_letter_id"])).returncode == 0

        async def counted(times: int = times) -> bool:
            return await replays_of(stack, original["dead_letter_id"]) == times

        await eventually(counted, what=f"replay {times} of the original recorded")
    refused_again = await cli(stack, "dlq", "replay", original["dead_letter_id"])
    assert refused_again.returncode != 0 and "the limit is 3" in refused_again.stderr, refused_again.stderr

    async def all_dead() -> bool:
        n = await stack.pool.fetchval(  # type: ignore[union-attr]
            "SELECT count(*) FROM dead_letters WHERE code = 'undecodable'"
        )
        return n == 1 + MAX_REPLAYS + 2

    await eventually(all_dead, what="every replay dead-lettered once")
    # Nothing was charged twice and nothing undecodable was charged at all.
    assert await stack.pool.fetchval("SELECT count(*) FROM charges WHERE tenant_id = $1", tenant_id) == 1


async def test_a_record_with_a_nul_byte_in_a_header_is_still_listed_as_a_dead_letter(stack: Stack) -> None:
    tenant = await setup_tenant(stack, ["cust_a"])
    partition, offset = await produce_raw(
        stack, customer_key(tenant["tenant_id"], "cust_a"), GARBAGE, [("trace", b"a\x00b")]
    )
    assert stack.pool is not None

    async def listed() -> bool:
        return bool(
            await stack.pool.fetchval(  # type: ignore[union-attr]
                "SELECT count(*) FROM dead_letters WHERE source_topic = $1 AND source_partition = $2 "
                "AND source_offset = $3",
                BILLING,
                partition,
                offset,
            )
        )

    await eventually(listed, timeout=15, what="the dead letter of a record with a NUL in a header")


async def test_replay_re_produces_binary_header_values_byte_for_byte(stack: Stack) -> None:
    tenant = await setup_tenant(stack, ["cust_a"])
    original_headers = [("trace", b"\xff\xfe\x01binary")]
    partition, offset = await produce_raw(
        stack, customer_key(tenant["tenant_id"], "cust_a"), GARBAGE, original_headers
    )
    dead = await dead_letter(
        stack,
        "source_topic = $1 AND source_partition = $2 AND source_offset = $3",
        BILLING,
        partition,
        offset,
        what="the undecodable record as a dead letter",
    )
    assert (await cli(stack, "dlq", "replay", dead["dead_letter_id"])).returncode == 0
    again = await dead_letter(stack, "replay_count = 1", what="the replayed record dead-lettered again")

    consumer = AIOKafkaConsumer(bootstrap_servers=stack.settings.bootstrap_servers, enable_auto_commit=False)
    await consumer.start()
    try:
        where = TopicPartition(BILLING, again["source_partition"])
        consumer.assign([where])
        consumer.seek(where, again["source_offset"])
        replayed = await asyncio.wait_for(consumer.getone(), 10)
    finally:
        await consumer.stop()
    assert replayed.value == GARBAGE
    assert dict(replayed.headers)["trace"] == original_headers[0][1]


async def test_events_that_cannot_be_stored_are_rejected_at_the_gateway(stack: Stack) -> None:
    tenant = await setup_tenant(stack, ["cust_a"])
    async with stack.client(tenant["api_key"]) as api:
        response = await api.post(
            "/v1/events",
            json={
                "events": [
                    {"id": "nul\u0000id", "customer": "cust_a", "type": "report.completed"},
                    {"id": "nul-customer", "customer": "cust\u0000a", "type": "report.completed"},
                ]
            },
        )
    assert response.status_code == 200, response.text
    assert [r["status"] for r in response.json()["results"]] == ["rejected", "rejected"]
