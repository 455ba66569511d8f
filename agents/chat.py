"""The chat stream processor: every message of every conversation into `chat_messages` and `conversations`,
and every reply's tokens out to billing as usage events of the agent's customer (if it has one)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from agents.runner import Message, dead_letter_for, decode_all, unexpected
from pipeline.chat.conversation import usage_events
from pipeline.codec import Codec
from pipeline.publishing import Outgoing
from pipeline.records import ChatMessageRecorded, DeadLetter
from pipeline.topics import BILLING, customer_key
from projections.chat import conversations as store

CONSUMER = "chat"
STAGE = "chat.apply"


@dataclass(slots=True)
class ChatProjection:
    codec: Codec
    consumer: str = CONSUMER
    stage: str = STAGE

    async def apply(
        self, conn: asyncpg.Connection, topic: str, partition: int, messages: Sequence[Message]
    ) -> list[DeadLetter | Outgoing]:
        decoded, dead = decode_all(self.codec, self.stage, messages)
        chat: list[ChatMessageRecorded] = []
        for m, record in decoded:
            if not isinstance(record, ChatMessageRecorded):
                dead.append(unexpected(self.stage, m, record))
            elif record.seq < 1:  # conversations number their messages from 1
                dead.append(dead_letter_for(self.stage, m, "invalid_record", f"seq {record.seq} is below 1"))
            else:
                chat.append(record)
        await store.record_messages(conn, chat)
        # Published before the offset commits; a redelivered reply derives the same event ids, which
        # billing charges once.
        billing = [
            Outgoing(BILLING, self.codec.encode(u), key=customer_key(u.tenant_id, u.customer))
            for record in chat
            for u in usage_events(record)
        ]
        return [*dead, *billing]
