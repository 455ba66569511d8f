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
from pipeline.webhooks.endpoints import DEAD_LETTER_CREATED
from projections import dead_letters as store
from projections.webhooks import fanout

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
        facts: list[fanout.Fact] = []
        for m in messages:
            try:
                record = self.codec.decode(m.value)
            except DecodeError:
                # A dead letter we cannot read has nowhere further to go: keep it visible in the log.
                log.error("undecodable record on %s[%d]@%d; left in the topic", topic, partition, m.offset)
                continue
            if isinstance(record, DeadLetter):
                await store.record(conn, topic, record)
                if record.tenant_id:
                    facts.append(_created(record))
            elif isinstance(record, DeadLetterReplayed):
                await store.mark_replayed(conn, record)
            else:
                log.error("unexpected %s on %s; left in the topic", type(record).__name__, topic)
        await fanout.enqueue(conn, facts)  # the tenants' `dead_letter.created` webhooks
        return []


def _created(d: DeadLetter) -> fanout.Fact:
    """A dead letter of a tenant's record, as its webhook tells of it (never the record's bytes)."""
    return fanout.Fact(
        tenant_id=store.printable(d.tenant_id) or "",
        event_type=DEAD_LETTER_CREATED,
        fact_id=d.dead_letter_id,
        at=d.first_failed_at,
        data={
            "dead_letter_id": d.dead_letter_id,
            "stage": store.printable(d.stage),
            "code": store.printable(d.code),
            "message": store.printable(d.message),
            "event_id": store.printable(d.event_id),
            "source_topic": d.source_topic,
            "first_failed_at": d.first_failed_at.isoformat(),
        },
    )
