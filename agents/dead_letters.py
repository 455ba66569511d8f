"""Projects the dead-letter topics into Postgres so they can be listed, shown and replayed."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from agents.runner import Message
from pipeline.codec import Codec
from pipeline.errors import DecodeError
from pipeline.records import DeadLetter, DeadLetterReplayed
from projections import dead_letters as store

log = logging.getLogger(__name__)

CONSUMER = "dead_letters"
STAGE = "dead_letters.project"


@dataclass(slots=True)
class DeadLetterProjection:
    codec: Codec
    consumer: str = CONSUMER
    stage: str = STAGE

    async def apply(
        self, conn: asyncpg.Connection, topic: str, partition: int, messages: Sequence[Message]
    ) -> list[DeadLetter]:
        for m in messages:
            try:
                record = self.codec.decode(m.value)
            except DecodeError:
                # A dead letter we cannot read has nowhere further to go: keep it visible in the log.
                log.error("undecodable record on %s[%d]@%d; left in the topic", topic, partition, m.offset)
                continue
            if isinstance(record, DeadLetter):
                await store.record(conn, topic, record)
            elif isinstance(record, DeadLetterReplayed):
                await store.mark_replayed(conn, record)
            else:
                log.error("unexpected %s on %s; left in the topic", type(record).__name__, topic)
        return []
