"""Where audit records go: the audit topic, keyed by tenant so each tenant's chain has one writer.

Without the outbox, a write and its audit entry go to the broker as separate records, which it may
accept in part. `AuditFirst` sends the audit entries of a batch first and the rest only once the broker
acknowledged them, so an applied write always has its entry; a failure in between leaves at most an
entry for a write that did not happen (the caller got an error and retries), never a write without one.
"""

from __future__ import annotations

from collections.abc import Sequence

from pipeline.codec import Codec
from pipeline.publishing import Delivered, Outgoing, Publisher
from pipeline.records import AuditRecorded
from pipeline.topics import AUDIT, tenant_key


def audit_outgoing(codec: Codec, r: AuditRecorded) -> Outgoing:
    return Outgoing(AUDIT, codec.encode(r), key=tenant_key(r.tenant_id))


class AuditFirst:
    """A publisher that never lets a batch's other records reach the broker before its audit entries."""

    def __init__(self, inner: Publisher) -> None:
        self._inner = inner

    async def publish(self, records: Sequence[Outgoing]) -> list[Delivered]:
        entries = [r for r in records if r.topic == AUDIT]
        if not entries or len(entries) == len(records):
            return await self._inner.publish(records)
        delivered = dict(zip((id(r) for r in entries), await self._inner.publish(entries), strict=True))
        rest = [r for r in records if r.topic != AUDIT]
        delivered.update(zip((id(r) for r in rest), await self._inner.publish(rest), strict=True))
        return [delivered[id(r)] for r in records]  # in the order asked, as the port promises

    async def partitions(self, topic: str) -> list[int]:
        return await self._inner.partitions(topic)
