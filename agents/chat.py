"""The chat stream processor: every message of every conversation into `chat_messages` and `conversations`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from agents.runner import Message, dead_letter_for, decode_all, unexpected
from pipeline.codec import Codec
from pipeline.records import ChatMessageRecorded, DeadLetter
from projections import conversations as store

CONSUMER = "chat"
STAGE = "chat.apply"


@dataclass(slots=True)
class ChatProjection:
    codec: Codec
    consumer: str = CONSUMER
    stage: str = STAGE

    async def apply(
        self, conn: asyncpg.Connection, topic: str, partition: int, messages: Sequence[Message]
    ) -> list[DeadLetter]:
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
        return dead
