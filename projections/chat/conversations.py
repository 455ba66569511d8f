"""Conversations and their messages: the writer fed by ChatMessageRecorded records, and the reads behind
the history and export API (keyset pages, so an export never holds everything in memory)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg

from pipeline.records import ChatMessageRecorded

# A redelivered message is the same fact: the first copy stays.
INSERT_MESSAGE = """
INSERT INTO chat_messages (tenant_id, conversation_id, seq, message_id, agent_id, role, content, status,
                           client_message_id, reply_to, model, latency_ms, first_token_ms, input_tokens,
                           output_tokens, tool_calls, tool_name, tool_call_id, occurred_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16::text::jsonb, $17, $18, $19)
ON CONFLICT DO NOTHING
"""
# No conflict target: a redelivered message (same seq) and a visitor message resent after a lost broker
# acknowledgement (same client_message_id, a later seq) are both kept once.
# Order-insensitive, so applying a message twice (or out of order) leaves the same row.
UPSERT_CONVERSATION = """
INSERT INTO conversations (tenant_id, conversation_id, agent_id, visitor_id, origin, started_at,
                           last_message_at, last_seq)
VALUES ($1, $2, $3, $4, $5, $6, $6, $7)
ON CONFLICT (tenant_id, conversation_id) DO UPDATE SET
    visitor_id = COALESCE(conversations.visitor_id, EXCLUDED.visitor_id),
    origin = COALESCE(conversations.origin, EXCLUDED.origin),
    started_at = LEAST(conversations.started_at, EXCLUDED.started_at),
    last_message_at = GREATEST(conversations.last_message_at, EXCLUDED.last_message_at),
    last_seq = GREATEST(conversations.last_seq, EXCLUDED.last_seq)
"""

_CONVERSATION = "conversation_id, agent_id, visitor_id, origin, started_at, last_message_at, last_seq"
# Newest first; the cursor is the last row's (started_at, conversation_id).
PAGE = f"""
SELECT {_CONVERSATION} FROM conversations
WHERE tenant_id = $1
  AND ($2::text IS NULL OR agent_id = $2)
  AND ($3::timestamptz IS NULL OR started_at >= $3)
  AND ($4::timestamptz IS NULL OR started_at < $4)
  AND ($5::timestamptz IS NULL OR (started_at, conversation_id) < ($5, $6::text))
ORDER BY started_at DESC, conversation_id DESC
LIMIT $7
"""
ONE = f"SELECT {_CONVERSATION} FROM conversations WHERE tenant_id = $1 AND conversation_id = $2"
MESSAGES = """
SELECT seq, message_id, role, content, status, client_message_id, reply_to, model, latency_ms,
       first_token_ms, input_tokens, output_tokens, tool_calls, tool_name, tool_call_id, occurred_at
FROM chat_messages WHERE tenant_id = $1 AND conversation_id = $2
ORDER BY seq
"""
# Every message in a time range, oldest first; keyset on (occurred_at, conversation_id, seq).
EXPORT = """
SELECT conversation_id, seq, role, status, content, model, input_tokens, output_tokens, occurred_at, agent_id
FROM chat_messages
WHERE tenant_id = $1
  AND ($2::text IS NULL OR agent_id = $2)
  AND ($3::timestamptz IS NULL OR occurred_at >= $3)
  AND ($4::timestamptz IS NULL OR occurred_at < $4)
  AND ($5::timestamptz IS NULL OR (occurred_at, conversation_id, seq) > ($5, $6::text, $7::bigint))
ORDER BY occurred_at, conversation_id, seq
LIMIT $8
"""
EXPORT_COLUMNS = (
    "conversation_id",
    "seq",
    "role",
    "status",
    "content",
    "model",
    "input_tokens",
    "output_tokens",
    "occurred_at",
    "agent_id",
)


def _message_args(r: ChatMessageRecorded) -> tuple[Any, ...]:
    return (
        r.tenant_id,
        r.conversation_id,
        r.seq,
        r.message_id,
        r.agent_id,
        r.role,
        r.content,
        r.status,
        r.client_message_id,
        r.reply_to,
        r.model,
        r.latency_ms,
        r.first_token_ms,
        r.input_tokens,
        r.output_tokens,
        r.tool_calls,
        r.tool_name,
        r.tool_call_id,
        r.occurred_at,
    )


async def record_messages(conn: asyncpg.Connection, records: Sequence[ChatMessageRecorded]) -> None:
    """Store messages (idempotently) and bring their conversations up to date."""
    if not records:
        return
    await conn.executemany(INSERT_MESSAGE, [_message_args(r) for r in records])
    await conn.executemany(
        UPSERT_CONVERSATION,
        [
            (r.tenant_id, r.conversation_id, r.agent_id, r.visitor_id, r.origin, r.occurred_at, r.seq)
            for r in records
        ],
    )


async def page(
    pool: asyncpg.Pool,
    tenant_id: str,
    *,
    agent_id: str | None,
    since: datetime | None,
    until: datetime | None,
    before: tuple[datetime, str] | None,
    limit: int,
) -> list[dict[str, Any]]:
    at, conversation_id = before if before is not None else (None, None)
    rows = await pool.fetch(PAGE, tenant_id, agent_id, since, until, at, conversation_id, limit)
    return [dict(r) for r in rows]


async def conversation(pool: asyncpg.Pool, tenant_id: str, conversation_id: str) -> dict[str, Any] | None:
    row = await pool.fetchrow(ONE, tenant_id, conversation_id)
    return None if row is None else dict(row)


async def messages(pool: asyncpg.Pool, tenant_id: str, conversation_id: str) -> list[dict[str, Any]]:
    return [dict(r) for r in await pool.fetch(MESSAGES, tenant_id, conversation_id)]


async def export_page(
    pool: asyncpg.Pool,
    tenant_id: str,
    *,
    agent_id: str | None,
    since: datetime | None,
    until: datetime | None,
    after: tuple[datetime, str, int] | None,
    limit: int,
) -> list[dict[str, Any]]:
    """One page of the export after the position `after` (None: from the start of the range)."""
    at, conversation_id, seq = after if after is not None else (None, None, None)
    rows = await pool.fetch(EXPORT, tenant_id, agent_id, since, until, at, conversation_id, seq, limit)
    return [dict(r) for r in rows]
