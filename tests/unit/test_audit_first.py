"""Without the outbox, an admin write's audit entry reaches the broker before the write itself."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from pipeline.admin.audit_topic import AuditFirst
from pipeline.errors import TransientError
from pipeline.publishing import Delivered, Outgoing
from pipeline.topics import AUDIT, BILLING


class Broker:
    """Acknowledges what it is sent, in calls; the call numbered `fail_on` fails instead."""

    def __init__(self, fail_on: int | None = None) -> None:
        self.calls: list[list[str]] = []
        self.fail_on = fail_on

    async def publish(self, records: Sequence[Outgoing]) -> list[Delivered]:
        if len(self.calls) == self.fail_on:
            raise TransientError("the broker did not acknowledge the records")
        self.calls.append([r.topic for r in records])
        return [Delivered(r.topic, 0, i) for i, r in enumerate(records)]

    async def partitions(self, topic: str) -> list[int]:
        return [0]


GRANT = Outgoing(BILLING, b"grant", key=b"t/c")
ENTRY = Outgoing(AUDIT, b"entry", key=b"t")


async def test_the_audit_entry_is_acknowledged_before_the_write_is_sent() -> None:
    broker = Broker()
    delivered = await AuditFirst(broker).publish([GRANT, ENTRY])
    assert broker.calls == [[AUDIT], [BILLING]]
    assert [d.topic for d in delivered] == [BILLING, AUDIT]  # answered in the order asked


async def test_a_write_whose_audit_entry_was_not_acknowledged_is_never_sent() -> None:
    broker = Broker(fail_on=0)
    with pytest.raises(TransientError):
        await AuditFirst(broker).publish([GRANT, ENTRY])
    assert broker.calls == []


async def test_batches_of_one_kind_go_in_one_call() -> None:
    broker = Broker()
    await AuditFirst(broker).publish([GRANT, GRANT])
    await AuditFirst(broker).publish([ENTRY])
    assert broker.calls == [[BILLING, BILLING], [AUDIT]]
