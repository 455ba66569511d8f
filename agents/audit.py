"""The audit stream processor: appends every admin write to its tenant's hash chain."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from agents.runner import Message, decode_all, unexpected
from pipeline.codec import Codec
from pipeline.records import AuditRecorded, DeadLetter
from projections import audit as store

CONSUMER = "audit"
STAGE = "audit.append"


@dataclass(slots=True)
class AuditProjection:
    codec: Codec
    consumer: str = CONSUMER
    stage: str = STAGE

    async def apply(
        self, conn: asyncpg.Connection, topic: str, partition: int, messages: Sequence[Message]
    ) -> list[DeadLetter]:
        decoded, dead = decode_all(self.codec, self.stage, messages)
        for m, record in decoded:
            if isinstance(record, AuditRecorded):
                await store.append(conn, record)
            else:
                dead.append(unexpected(self.stage, m, record))
        return dead
