"""The audit stream processor: appends every admin write to its tenant's hash chain, and publishes the
chains' new heads outside the database once the entries are committed."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg

from agents.runner import Message, decode_all, unexpected
from infra import audit_heads
from pipeline.admin.audit import Head, Seal
from pipeline.codec import Codec
from pipeline.records import AuditRecorded, DeadLetter
from projections import audit as store

CONSUMER = "audit"
STAGE = "audit.append"

log = logging.getLogger(__name__)


@dataclass(slots=True)
class AuditProjection:
    codec: Codec
    seal: Seal
    heads: Path  # where the chains' heads are published
    consumer: str = CONSUMER
    stage: str = STAGE
    _pending: dict[str, Head] = field(default_factory=dict)

    async def apply(
        self, conn: asyncpg.Connection, topic: str, partition: int, messages: Sequence[Message]
    ) -> list[DeadLetter]:
        self._pending.clear()  # a retried batch starts over
        decoded, dead = decode_all(self.codec, self.stage, messages)
        for m, record in decoded:
            if isinstance(record, AuditRecorded):
                head = await store.append(conn, record, self.seal)
                if head is not None:
                    self._pending[record.tenant_id] = head
            else:
                dead.append(unexpected(self.stage, m, record))
        return dead

    async def committed(self) -> None:
        """After the batch's transaction commits: publish the heads it made (never raises; the next
        entry publishes a later head)."""
        pending, self._pending = self._pending, {}
        for tenant_id, head in pending.items():
            try:
                audit_heads.publish(self.heads, tenant_id, head)
            except OSError:
                log.error(
                    "could not publish the audit chain head of %s in %s", tenant_id, self.heads, exc_info=True
                )
