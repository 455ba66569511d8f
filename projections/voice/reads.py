"""The reads behind /v1/calls and the dashboard's calls pages: keyset pages of calls, one call with its
events, and its transcript (the chat messages of its conversation with the interruptions beside them)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

from pipeline.voice import calls

_CALL = """call_sid, agent_id, conversation_id, from_number, to_number, customer, state, state_at, started_at,
answered_at, ended_at, duration_seconds, end_reason, end_detail"""
# Newest first; the cursor is the last row's (started_at, call_sid). `failed` keeps the calls that ended
# without the caller or the agent meaning them to (pipeline/voice/calls.py DROPS) or were never answered.
PAGE = f"""
SELECT {_CALL} FROM calls
WHERE tenant_id = $1
  AND ($2::text IS NULL OR agent_id = $2)
  AND ($3::text IS NULL OR state = $3)
  AND ($4::timestamptz IS NULL OR started_at >= $4)
  AND ($5::timestamptz IS NULL OR started_at < $5)
  AND ($6::text[] IS NULL OR end_reason = ANY($6))
  AND ($7::timestamptz IS NULL OR (started_at, call_sid) < ($7, $8::text))
ORDER BY started_at DESC, call_sid DESC
LIMIT $9
"""
ONE = f"SELECT {_CALL} FROM calls WHERE tenant_id = $1 AND call_sid = $2"
EVENTS = """
SELECT event_id, kind, state, occurred_at, end_reason, detail, reply_to, heard, heard_ms, duration_seconds
FROM call_events WHERE tenant_id = $1 AND call_sid = $2
ORDER BY occurred_at, event_id
"""
TURNS = """
SELECT seq, role, content, status, reply_to, model, first_token_ms, input_tokens, output_tokens, tool_name,
       occurred_at
FROM chat_messages WHERE tenant_id = $1 AND conversation_id = $2
ORDER BY seq
"""
# Calls by end reason, for the drop rate: every call that has ended, per reason.
ENDINGS = """
SELECT end_reason, count(*) AS calls FROM calls
WHERE ended_at IS NOT NULL AND ($1::text IS NULL OR tenant_id = $1)
GROUP BY end_reason
"""


async def page(
    pool: asyncpg.Pool,
    tenant_id: str,
    *,
    agent_id: str | None = None,
    state: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    end_reasons: list[str] | None = None,
    before: tuple[datetime, str] | None = None,
    limit: int = 50,
) -> list[dict[str, Any]]:
    at, call_sid = before if before is not None else (None, None)
    rows = await pool.fetch(PAGE, tenant_id, agent_id, state, since, until, end_reasons, at, call_sid, limit)
    return [dict(r) for r in rows]


async def call(pool: asyncpg.Pool, tenant_id: str, call_sid: str) -> dict[str, Any] | None:
    row = await pool.fetchrow(ONE, tenant_id, call_sid)
    return None if row is None else dict(row)


async def events(pool: asyncpg.Pool, tenant_id: str, call_sid: str) -> list[dict[str, Any]]:
    """Everything recorded about a call, oldest first: states, interruptions, digits, its end.

    A call goes through its states in order, but the times they carry come from different clocks (ours,
    Twilio's to the second): the state changes keep their places in the list and are put in the order of
    the state machine among themselves."""
    found = [dict(r) for r in await pool.fetch(EVENTS, tenant_id, call_sid)]
    places = [i for i, e in enumerate(found) if e["kind"] == calls.STATE]
    states = sorted(
        (found[i] for i in places), key=lambda e: (calls.RANK.get(e["state"], 9), e["occurred_at"])
    )
    for i, e in zip(places, states, strict=True):
        found[i] = e
    return found


async def transcript(
    pool: asyncpg.Pool, tenant_id: str, conversation_id: str | None, interruptions: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The call's turns in order; the last assistant reply to a message the caller spoke over is marked
    `interrupted`, with what the caller `heard` of it."""
    if conversation_id is None:
        return []
    turns = [dict(r) for r in await pool.fetch(TURNS, tenant_id, conversation_id)]
    cut = {
        e["reply_to"]: e for e in interruptions if e["kind"] == "interrupted" and e["reply_to"] is not None
    }
    last_reply: dict[int, dict[str, Any]] = {}
    for t in turns:
        t["interrupted"] = t["status"] == "interrupted"
        t["heard"] = None
        if t["role"] == "assistant" and t["reply_to"] is not None:
            last_reply[t["reply_to"]] = t
    for reply_to, event in cut.items():
        turn = last_reply.get(reply_to)
        if turn is not None:
            turn["interrupted"] = True
            turn["heard"] = event["heard"]
            turn["heard_ms"] = event["heard_ms"]
    return turns


async def endings(pool: asyncpg.Pool | asyncpg.Connection, tenant_id: str | None = None) -> dict[str, int]:
    """How many ended calls ended for each reason (every tenant's when `tenant_id` is None)."""
    return {r["end_reason"] or "unknown": r["calls"] for r in await pool.fetch(ENDINGS, tenant_id)}


OWNER = "SELECT tenant_id, agent_id FROM calls WHERE call_sid = $1 LIMIT 1"


async def owner(pool: asyncpg.Pool, call_sid: str) -> tuple[str, str] | None:
    """The tenant and agent of a call the projection knows (a Twilio call SID is globally unique)."""
    row = await pool.fetchrow(OWNER, call_sid)
    return None if row is None else (row["tenant_id"], row["agent_id"])
