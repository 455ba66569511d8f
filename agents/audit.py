"""The audit stream processor: appends every admin write to its tenant's hash chain."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from agents.runner import Message, dead_letter_for
from pipeline.codec import Codec
from pipeline.errors import DecodeError
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
        dead: list[DeadLetter] = []
        for m in messages:
            try:
                record = self.codec.decode(m.value)
            except DecodeError as exc:
                dead.append(dead_letter_for(self.stage, m, exc.code, exc.message, exc))
                continue
            if isinstance(record, AuditRecorded):
                await store.append(conn, record)
            else:
                dead.append(
                    dead_letter_for(
                        self.stage,
                        m,
                        "unexpected_record",
                        f"{type(record).__name__} does not belong on {topic}",
                    )
                )
        return dead
