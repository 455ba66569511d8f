"""The voice writer: every `CallEventRecorded` into `call_events`, folded into its call's `calls` row.

A fact already in `call_events` (same `event_id`) is skipped whole, so a redelivered record changes
nothing; the fold itself (pipeline/voice/summary.py) ignores order, so the row is the same whatever order
the facts arrive in. Records of one call share a partition, and the runner holds the partition's lock,
so one writer folds a call at a time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

import asyncpg

from pipeline.records import CallEventRecorded
from pipeline.voice.summary import CallSummary, Reaction, answers, best_duration, fold, reaction

INSERT_EVENT = """
INSERT INTO call_events (tenant_id, event_id, call_sid, kind, state, occurred_at, end_reason, detail,
                         reply_to, heard, heard_ms, duration_seconds)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
ON CONFLICT (tenant_id, event_id) DO NOTHING
RETURNING event_id
"""
DURATIONS = """
SELECT kind, state, duration_seconds FROM call_events
WHERE tenant_id = $1 AND call_sid = $2 AND duration_seconds IS NOT NULL
"""
_COLUMNS = (
    "agent_id",
    "started_at",
    "conversation_id",
    "from_number",
    "to_number",
    "customer",
    "state",
    "state_at",
    "answered_at",
    "ended_at",
    "duration_seconds",
    "end_reason",
    "end_detail",
)
LOAD = f"SELECT {', '.join(_COLUMNS)} FROM calls WHERE tenant_id = $1 AND call_sid = $2 FOR UPDATE"
UPSERT = f"""
INSERT INTO calls (tenant_id, call_sid, {", ".join(_COLUMNS)})
VALUES ({", ".join(f"${i}" for i in range(1, len(_COLUMNS) + 3))})
ON CONFLICT (tenant_id, call_sid) DO UPDATE SET
    {", ".join(f"{c} = EXCLUDED.{c}" for c in _COLUMNS)}
"""


def _event_args(e: CallEventRecorded) -> tuple[object, ...]:
    return (
        e.tenant_id,
        e.event_id,
        e.call_sid,
        e.kind,
        e.state,
        e.occurred_at,
        e.end_reason,
        e.detail,
        e.reply_to,
        e.heard,
        e.heard_ms,
        e.duration_seconds,
    )


async def _load(conn: asyncpg.Connection, tenant_id: str, call_sid: str) -> CallSummary | None:
    row = await conn.fetchrow(LOAD, tenant_id, call_sid)
    return None if row is None else CallSummary(tenant_id=tenant_id, call_sid=call_sid, **dict(row))


async def record_events(conn: asyncpg.Connection, events: Sequence[CallEventRecorded]) -> list[Reaction]:
    """Store the facts not stored before and fold them into their calls (inside the caller's
    transaction); what each touched call's change asks for, in the order the calls were first seen."""
    before: dict[tuple[str, str], CallSummary | None] = {}
    after: dict[tuple[str, str], CallSummary] = {}
    answered: dict[tuple[str, str], datetime] = {}
    for e in events:
        if await conn.fetchval(INSERT_EVENT, *_event_args(e)) is None:
            continue  # this fact was applied before
        key = (e.tenant_id, e.call_sid)
        if key not in before:
            before[key] = await _load(conn, *key)
        current = after.get(key, before[key])
        summary = fold(current, e)
        if e.duration_seconds is not None:
            facts = [
                (f["kind"], f["state"], f["duration_seconds"]) for f in await conn.fetch(DURATIONS, *key)
            ]
            summary = replace(summary, duration_seconds=best_duration(facts))
        after[key] = summary
        if answers(e):
            answered[key] = min(answered.get(key, e.occurred_at), e.occurred_at)
    for (tenant_id, call_sid), s in after.items():
        await conn.execute(UPSERT, tenant_id, call_sid, *(getattr(s, c) for c in _COLUMNS))
    return [reaction(before[key], s, answered.get(key)) for key, s in after.items()]
