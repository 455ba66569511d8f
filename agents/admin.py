"""The admin stream processor: tenants and API keys."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from agents.runner import Message, dead_letter_for
from pipeline.codec import Codec
from pipeline.errors import DecodeError
from pipeline.records import ApiKeyIssued, DeadLetter, TenantCreated
from projections import admin as store

CONSUMER = "admin"
STAGE = "admin.apply"


@dataclass(slots=True)
class AdminProjection:
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
            if isinstance(record, TenantCreated):
                await store.create_tenant(conn, record)
            elif isinstance(record, ApiKeyIssued):
                await store.issue_key(conn, record)
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
