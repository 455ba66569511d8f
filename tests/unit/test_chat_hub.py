"""The conversation hub in memory: a resuming listener gets the replay then live messages, each once,
and waits for a turn in progress (no database: these conversations never leave memory)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from gateway.chat.hub import Conversation, ConversationNotFound, Hub, Listener
from pipeline.chat.leases import MemoryLeases
from pipeline.records import ChatMessageRecorded

AGENT = {"agent_id": "agt_1", "name": "Helper", "branding": {}}


def record(conversation: Conversation, role: str = "user", **fields: Any) -> ChatMessageRecorded:
    t = conversation.transcript
    seq = t.next_seq()
    return ChatMessageRecorded(f"{t.conversation_id}:{seq}", t.tenant_id, t.agent_id, t.conversation_id, seq,
                               role, f"m{seq}", "complete", datetime.now(UTC), **fields)  # fmt: skip


def drain(listener: Listener) -> list[tuple[str, Any]]:
    out = []
    while not listener.outbox.empty():
        item = listener.outbox.get_nowait()
        assert item is not None
        frame = orjson.loads(item[0])
        out.append((frame["type"], frame.get("seq", frame.get("last_seq"))))
    return out


async def test_a_resuming_listener_gets_ready_the_missed_messages_then_live_ones_once() -> None:
    hub = Hub(None, MemoryLeases())  # type: ignore[arg-type]
    conversation = await hub.start("ten_1", "agt_1", "vis_1")
    first = Listener()
    await hub.attach(conversation, first, 0, AGENT)
    for _ in range(3):
        conversation.commit(record(conversation))
    assert drain(first) == [("ready", 0), ("message", 1), ("message", 2), ("message", 3)]

    second = Listener()
    await hub.attach(conversation, second, 1, AGENT)
    conversation.commit(record(conversation))
    assert drain(second) == [("ready", 3), ("message", 2), ("message", 3), ("message", 4)]
    assert drain(first) == [("message", 4)]
    await hub.detach(conversation, first)
    conversation.commit(record(conversation))
    assert drain(first) == [] and drain(second) == [("message", 5)]


async def test_attaching_waits_for_the_turn_in_progress() -> None:
    hub = Hub(None, MemoryLeases())  # type: ignore[arg-type]
    conversation = await hub.start("ten_1", "agt_1", "vis_1")
    await conversation.lock.acquire()  # a turn holds the lock until its reply is stored
    listener = Listener()
    attaching = asyncio.create_task(hub.attach(conversation, listener, 0, AGENT))
    await asyncio.sleep(0.01)
    assert not attaching.done() and drain(listener) == []
    conversation.commit(record(conversation))
    conversation.commit(record(conversation, "assistant", reply_to=1))
    conversation.lock.release()
    await attaching
    assert drain(listener) == [("ready", 2), ("message", 1), ("message", 2)]


async def test_a_conversation_is_found_only_by_its_own_visitor_and_agent() -> None:
    hub = Hub(None, MemoryLeases())  # type: ignore[arg-type]
    conversation = await hub.start("ten_1", "agt_1", "vis_1")
    cid = conversation.transcript.conversation_id
    assert await hub.find("ten_1", cid, "agt_1", "vis_1") is conversation
    for agent, visitor in (("agt_2", "vis_1"), ("agt_1", "vis_2")):
        with pytest.raises(ConversationNotFound):
            await hub.find("ten_1", cid, agent, visitor)


async def test_a_listener_that_is_not_read_overflows_and_then_takes_nothing() -> None:
    hub = Hub(None, MemoryLeases())  # type: ignore[arg-type]
    conversation = await hub.start("ten_1", "agt_1", "vis_1")
    for _ in range(5):
        conversation.commit(record(conversation))
    listener = Listener(limit=1000)
    await hub.attach(conversation, listener, 0, AGENT)  # a replay, however long, does not count
    assert listener.queued == 0 and not listener.overflowed.is_set()
    while not listener.overflowed.is_set():
        conversation.stream({"type": "delta", "reply_to": 5, "text": "word "})
    assert listener.queued <= 1000
    waiting = listener.outbox.qsize()
    conversation.stream({"type": "delta", "reply_to": 5, "text": "more"})
    assert listener.outbox.qsize() == waiting
    assert drain(listener)[:6] == [("ready", 5)] + [("message", seq) for seq in range(1, 6)]
