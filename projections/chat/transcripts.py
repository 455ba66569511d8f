"""Reading a conversation back from the chat projection, for a gateway that does not hold it in memory."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import asyncpg

from pipeline.records import ChatMessageRecorded

CONVERSATION = """
SELECT agent_id, visitor_id, last_seq FROM conversations WHERE tenant_id = $1 AND conversation_id = $2
"""
_COLUMNS = """seq, message_id, agent_id, role, content, status, client_message_id, reply_to, model, latency_ms,
first_token_ms, input_tokens, output_tokens, tool_calls::text AS tool_calls, tool_name, tool_call_id, occurred_at"""
RECENT = f"""
SELECT * FROM (SELECT {_COLUMNS} FROM chat_messages WHERE tenant_id = $1 AND conversation_id = $2
               ORDER BY seq DESC LIMIT $3) newest
ORDER BY seq
"""
BETWEEN = f"""
SELECT {_COLUMNS} FROM chat_messages WHERE tenant_id = $1 AND conversation_id = $2 AND seq >= $3 AND seq < $4
ORDER BY seq
"""
CLIENT_IDS = """
SELECT client_message_id, seq FROM chat_messages
WHERE tenant_id = $1 AND conversation_id = $2 AND client_message_id IS NOT NULL
"""


@dataclass(frozen=True, slots=True)
class StoredConversation:
    agent_id: str
    visitor_id: str | None
    last_seq: int
    recent: tuple[ChatMessageRecorded, ...]
    client_ids: Mapping[str, int]


def _message(tenant_id: str, conversation_id: str, row: asyncpg.Record) -> ChatMessageRecorded:
    return ChatMessageRecorded(tenant_id=tenant_id, conversation_id=conversation_id, **dict(row))


def _messages(
    tenant_id: str, conversation_id: str, rows: Iterable[asyncpg.Record]
) -> list[ChatMessageRecorded]:
    return [_message(tenant_id, conversation_id, r) for r in rows]


async def conversation(
    pool: asyncpg.Pool, tenant_id: str, conversation_id: str, *, recent: int
) -> StoredConversation | None:
    """The conversation's owner, newest seq, last `recent` messages and client message ids; None if
    the projection has never seen it."""
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        head = await conn.fetchrow(CONVERSATION, tenant_id, conversation_id)
        if head is None:
            return None
        rows = await conn.fetch(RECENT, tenant_id, conversation_id, recent)
        ids = await conn.fetch(CLIENT_IDS, tenant_id, conversation_id)
    return StoredConversation(
        agent_id=head["agent_id"],
        visitor_id=head["visitor_id"],
        last_seq=head["last_seq"],
        recent=tuple(_messages(tenant_id, conversation_id, rows)),
        client_ids={r["client_message_id"]: r["seq"] for r in ids},
    )


async def between(
    pool: asyncpg.Pool, tenant_id: str, conversation_id: str, first: int, end: int
) -> list[ChatMessageRecorded]:
    """Messages with `first <= seq < end`, in order (those the projection has)."""
    rows = await pool.fetch(BETWEEN, tenant_id, conversation_id, first, end)
    return _messages(tenant_id, conversation_id, rows)
