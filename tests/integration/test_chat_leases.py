"""Conversation leases: the contract, against the in-memory leases and PostgreSQL alike, and two gateway
hubs sharing one database that never give two messages one seq."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from waiting import eventually

from agents.runner import Runtime
from gateway.chat.hub import Conversation, ConversationElsewhere, Hub, Listener
from pipeline.chat.leases import Leases, MemoryLeases
from pipeline.records import ChatMessageRecorded
from projections.chat.conversations import record_messages
from projections.chat.leases import PostgresLeases

KEY = ("ten_1", "cnv_1")
AGENT = {"agent_id": "agt_1", "name": "Helper", "branding": {}}


@pytest.fixture(params=["memory", "postgres"])
async def leases(request: pytest.FixtureRequest, runtime: Runtime) -> AsyncIterator[Leases]:
    yield MemoryLeases() if request.param == "memory" else PostgresLeases(runtime.pool)


async def test_one_holder_at_a_time_and_the_same_holder_again(leases: Leases) -> None:
    assert await leases.claim(KEY, "a", 30) == 0
    assert await leases.claim(KEY, "b", 30) is None
    assert await leases.claim(KEY, "a", 30) == 0
    assert await leases.claim(("ten_2", "cnv_1"), "b", 30) == 0  # another tenant's conversation


async def test_seqs_are_reserved_in_increasing_order_by_the_holder_only(leases: Leases) -> None:
    await leases.claim(KEY, "a", 30)
    assert [await leases.reserve(KEY, "a", seq, 30) for seq in (1, 2, 4)] == [True, True, True]
    assert await leases.reserve(KEY, "a", 4, 30) is False  # a seq is handed out once
    assert await leases.reserve(KEY, "a", 3, 30) is False
    assert await leases.reserve(KEY, "b", 5, 30) is False
    assert await leases.reserve(("ten_1", "cnv_unclaimed"), "a", 1, 30) is False


async def test_a_released_lease_goes_to_the_next_holder_with_its_last_seq(leases: Leases) -> None:
    await leases.claim(KEY, "a", 30)
    await leases.reserve(KEY, "a", 7, 30)
    assert await leases.renew("a", [KEY], 30) == {KEY}
    await leases.release("a", [KEY])
    assert await leases.renew("a", [KEY], 30) == set()  # released: nothing to renew
    assert await leases.claim(KEY, "b", 30) == 7
    assert await leases.reserve(KEY, "a", 8, 30) is False
    assert await leases.reserve(KEY, "b", 8, 30) is True


async def test_a_lapsed_lease_can_be_taken_over(leases: Leases) -> None:
    await leases.claim(KEY, "a", 2)
    await leases.reserve(KEY, "a", 3, 2)  # and then the holder dies
    assert await leases.claim(KEY, "b", 30) is None
    assert await eventually(lambda: leases.claim(KEY, "b", 30), timeout=10, what="the lease to lapse") == 3
    assert await leases.renew("a", [KEY], 30) == set()


def message(conversation: Conversation, seq: int) -> ChatMessageRecorded:
    t = conversation.transcript
    return ChatMessageRecorded(f"{t.conversation_id}:{seq}", t.tenant_id, t.agent_id, t.conversation_id, seq,
                               "user", f"m{seq}", "complete", datetime.now(UTC),
                               visitor_id=t.visitor_id)  # fmt: skip


async def number(hub: Hub, conversation: Conversation, count: int) -> list[ChatMessageRecorded]:
    """What a turn does for each message: reserve its seq, then (once published) commit it."""
    made = []
    for _ in range(count):
        record = message(conversation, conversation.transcript.next_seq())
        await hub.reserve(conversation, record.seq)
        conversation.commit(record)
        made.append(record)
    return made


def frames(listener: Listener) -> list[Any]:
    out = []
    while not listener.outbox.empty():
        item = listener.outbox.get_nowait()
        if item is None:
            out.append("close")
            continue
        frame = orjson.loads(item[0])
        out.append((frame["type"], frame.get("code")))
    return out


async def test_a_second_gateway_goes_on_after_messages_the_projection_has_not_stored(
    runtime: Runtime,
) -> None:
    first = Hub(runtime.pool, PostgresLeases(runtime.pool), projection_wait=0.5)
    second = Hub(runtime.pool, PostgresLeases(runtime.pool), projection_wait=0.5)
    mine = await first.start("ten_1", "agt_1", "vis_1")
    listener = Listener()
    await first.attach(mine, listener, 0, AGENT)
    records = await number(first, mine, 3)
    cid = mine.transcript.conversation_id
    async with runtime.pool.acquire() as conn:
        await record_messages(conn, records[:1])  # the chat projection has stored only the first

    with pytest.raises(ConversationElsewhere):  # the visitor's socket is open on the first gateway
        await second.find("ten_1", cid, "agt_1", "vis_1")

    await first.detach(mine, listener)  # the visitor left; a reconnect lands on the second gateway
    theirs = await second.find("ten_1", cid, "agt_1", "vis_1")
    assert theirs.transcript.last_seq == 3 and theirs.transcript.next_seq() == 4
    assert [m.seq for m in await number(second, theirs, 1)] == [4]

    # The first gateway still has the conversation in memory; it must not number another message.
    with pytest.raises(ConversationElsewhere):
        await first.find("ten_1", cid, "agt_1", "vis_1")
    with pytest.raises(ConversationElsewhere):
        await first.reserve(mine, 4)


async def test_a_gateway_that_lost_its_lease_tells_its_sockets_to_reconnect(runtime: Runtime) -> None:
    first = Hub(runtime.pool, PostgresLeases(runtime.pool), lease_seconds=0.3)
    second = Hub(runtime.pool, PostgresLeases(runtime.pool))
    mine = await first.start("ten_1", "agt_1", "vis_1")
    listener = Listener()
    await first.attach(mine, listener, 0, AGENT)
    records = await number(first, mine, 2)
    async with runtime.pool.acquire() as conn:
        await record_messages(conn, records)
    frames(listener)
    # The first gateway stalls (renews nothing) past its lease; the second takes the conversation.
    cid = mine.transcript.conversation_id
    taken = await eventually(
        lambda: _find_or_none(second, cid), timeout=10, what="the second gateway to take over"
    )
    assert taken.transcript.next_seq() == 3
    with pytest.raises(ConversationElsewhere):
        await first.reserve(mine, 3)
    assert frames(listener) == [("error", "conversation_elsewhere"), "close"]


async def test_renewing_keeps_a_lease_past_its_length(runtime: Runtime) -> None:
    first = Hub(runtime.pool, PostgresLeases(runtime.pool), lease_seconds=1.5)
    second = Hub(runtime.pool, PostgresLeases(runtime.pool))
    mine = await first.start("ten_1", "agt_1", "vis_1")
    await first.attach(mine, Listener(), 0, AGENT)
    keeping = asyncio.create_task(first.keep_leases())
    try:
        await asyncio.sleep(4.5)  # three lease lengths: only renewals (every 0.5 s) keep it
        with pytest.raises(ConversationElsewhere):
            await second.find("ten_1", mine.transcript.conversation_id, "agt_1", "vis_1")
        await number(first, mine, 1)
    finally:
        keeping.cancel()


async def _find_or_none(hub: Hub, cid: str) -> Conversation | None:
    try:
        return await hub.find("ten_1", cid, "agt_1", "vis_1")
    except ConversationElsewhere:
        return None
