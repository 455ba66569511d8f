"""The voice writer on a real PostgreSQL: a call's row is the same whatever order and however often its
facts arrive; its minutes are billed once; its status webhooks are queued once per call and type."""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import asyncpg
import pytest
from call_facts import T0, answered_call, dropped_call, voice_agent

from agents.runner import Message
from agents.voice import VoiceProjection
from pipeline.assistants.tool_secrets import SecretBox
from pipeline.codec import default_codec
from pipeline.records import CallEventRecorded, DeadLetter, UsageCorrected, UsageRecorded
from pipeline.topics import BILLING, VOICE, customer_key
from pipeline.voice import calls
from projections.chat import assistants

CODEC = default_codec()
BOX = SecretBox(b"s" * 32)
HOOK = "https://hooks.example.com/calls"


class Applier:
    """Feeds records to the processor as the runner does: one transaction per batch, offsets counting up."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool
        self.projection = VoiceProjection(CODEC, base_url="https://revos.example.com")
        self.offset = 0
        self.produced: list[Any] = []

    async def apply(self, batch: Sequence[CallEventRecorded | bytes | Any]) -> list[Any]:
        messages = []
        for record in batch:
            value = record if isinstance(record, bytes) else CODEC.encode(record)
            messages.append(Message(VOICE, 0, self.offset, b"k", value, (), datetime.now(UTC)))
            self.offset += 1
        async with self.pool.acquire() as conn, conn.transaction():
            out = await self.projection.apply(conn, VOICE, 0, messages)
        self.produced.extend(out)
        return out

    def billing(self) -> list[UsageRecorded | UsageCorrected]:
        found: list[UsageRecorded | UsageCorrected] = []
        for out in self.produced:
            if not isinstance(out, DeadLetter) and out.topic == BILLING:
                record = CODEC.decode(out.value)
                assert isinstance(record, UsageRecorded | UsageCorrected)
                assert out.key == customer_key(record.tenant_id, "c1")
                found.append(record)
        return found

    def usage(self) -> list[UsageRecorded]:
        return [r for r in self.billing() if isinstance(r, UsageRecorded)]

    def amends(self) -> list[UsageCorrected]:
        return [r for r in self.billing() if isinstance(r, UsageCorrected)]


def batches(events: list[CallEventRecorded], rng: random.Random) -> list[list[CallEventRecorded]]:
    """The events shuffled, some twice, cut into batches of random sizes."""
    shuffled = [*events, *rng.choices(events, k=3)]
    rng.shuffle(shuffled)
    cuts = sorted(rng.sample(range(1, len(shuffled)), k=rng.randint(0, 4)))
    return [shuffled[a:b] for a, b in zip([0, *cuts], [*cuts, len(shuffled)], strict=True)]


async def row(pool: asyncpg.Pool, call_sid: str) -> dict[str, Any]:
    found = await pool.fetchrow("SELECT * FROM calls WHERE call_sid = $1", call_sid)
    assert found is not None
    # Every call in these tests has its own sid: compare what the facts made of it.
    return {k: v.replace(call_sid, "<sid>") if isinstance(v, str) else v for k, v in dict(found).items()}


async def deliveries(pool: asyncpg.Pool) -> list[dict[str, Any]]:
    rows = await pool.fetch("SELECT * FROM webhook_deliveries ORDER BY created_at, event_type")
    return [dict(r) for r in rows]


@pytest.mark.parametrize("scenario", [answered_call, dropped_call], ids=["answered", "dropped"])
async def test_a_call_is_the_same_row_whatever_the_order_and_the_duplicates(
    pool: asyncpg.Pool, scenario
) -> None:  # type: ignore[no-untyped-def]
    applier = Applier(pool)
    rng = random.Random(13)
    rows = []
    for n in range(15):
        sid = f"CA{n:03d}"
        events = scenario(sid)
        if n == 0:
            plan = [events]  # the log's order, one batch
        elif n == 1:
            plan = [[e] for e in reversed(events)]  # backwards, one at a time
        else:
            plan = batches(events, rng)
        for batch in plan:
            await applier.apply(batch)
        again = await applier.apply(events)  # the whole call redelivered: nothing changes
        assert again == []
        rows.append(await row(pool, sid))
        stored = await pool.fetchval("SELECT count(*) FROM call_events WHERE call_sid = $1", sid)
        assert stored == len(events)
    first = rows[0]
    assert all(r == first for r in rows), [r for r in rows if r != first][:1]
    assert first["ended_at"] is not None and first["started_at"] == T0 and first["state"] == calls.COMPLETED
    assert first["duration_seconds"] == scenario("x")[-1].duration_seconds  # Twilio's CallDuration wins


async def test_a_calls_minutes_are_billed_once_as_an_exact_decimal(pool: asyncpg.Pool) -> None:
    applier = Applier(pool)
    events = answered_call("CA1")
    for e in events:  # as the log holds them: the agent's end (88 s) is the first duration known
        await applier.apply([e])
    await applier.apply(events)
    for e in events:
        await applier.apply([e])
    usage = applier.usage()
    assert len(usage) == 1
    assert usage[0].event_id == "voice.minutes:CA1" and usage[0].type == "voice.minutes"
    assert usage[0].quantity == Decimal("1.467") and isinstance(usage[0].quantity, Decimal)  # 88 s / 60, up
    assert usage[0].timestamp == T0 and usage[0].properties == {"agent_id": "a1", "call_sid": "CA1"}
    # Twilio's CallDuration (91 s) arrived after it: one amend of that charge, redeliveries aside.
    amends = applier.amends()
    assert [(a.event_id, a.target_event_id, a.action, a.quantity) for a in amends] == [
        ("voice.minutes:CA1:91s", "voice.minutes:CA1", "amend", Decimal("1.517"))
    ]

    whole = Applier(pool)  # another call delivered in one batch: Twilio's CallDuration is known by then
    await whole.apply(answered_call("CA2"))
    assert [u.quantity for u in whole.usage()] == [Decimal("1.517")] and whole.amends() == []


async def test_no_minutes_without_a_customer_or_before_the_call_ends(pool: asyncpg.Pool) -> None:
    applier = Applier(pool)
    await applier.apply(answered_call("CA1", customer=None))
    await applier.apply(answered_call("CA2")[:5])  # still going
    assert applier.usage() == []


async def test_status_webhooks_are_queued_once_per_call_and_type(pool: asyncpg.Pool) -> None:
    agent, _ = voice_agent(BOX, webhook_url=HOOK)
    quiet, _ = voice_agent(BOX, agent="a2", webhook_url=None)
    async with pool.acquire() as conn:
        await assistants.apply(conn, agent)
        await assistants.apply(conn, quiet)
    applier = Applier(pool)
    rng = random.Random(5)
    for _ in range(3):
        for batch in batches(answered_call("CA1"), rng):
            await applier.apply(batch)
        for batch in batches(dropped_call("CA2"), rng):
            await applier.apply(batch)
    await applier.apply(answered_call("CA3", agent="a2"))  # no status webhook
    await applier.apply(answered_call("CA4", tenant="t2"))  # names another tenant's agent: not its own

    queued = await deliveries(pool)
    assert sorted((d["tenant_id"], d["event_type"], d["payload"]["data"]["call_sid"]) for d in queued) == [
        ("t1", "call.ended", "CA1"),
        ("t1", "call.failed", "CA2"),
        ("t1", "call.started", "CA1"),
        ("t1", "call.started", "CA2"),
    ]
    assert {d["url"] for d in queued} == {HOOK} and all(d["attempts"] == 0 for d in queued)
    ended = next(d for d in queued if d["event_type"] == "call.ended")
    assert ended["payload"]["data"]["transcript_url"] == "https://revos.example.com/v1/calls/CA1"
    assert ended["payload"]["data"]["end_reason"] == calls.AGENT_ENDED
    assert ended["webhook_id"].startswith("msg_") and len({d["webhook_id"] for d in queued}) == 4


async def test_records_that_do_not_belong_are_dead_lettered(pool: asyncpg.Pool) -> None:
    applier = Applier(pool)
    stray = UsageRecorded("u1", "t1", "c1", "x", T0, Decimal(1))
    out = await applier.apply([b"\x00not avro", stray, answered_call("CA1")[0]])
    dead = [o for o in out if isinstance(o, DeadLetter)]
    assert sorted(d.code for d in dead) == ["undecodable", "unexpected_record"]
    assert await pool.fetchval("SELECT count(*) FROM calls") == 1
