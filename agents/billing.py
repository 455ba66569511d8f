"""The billing stream processor: usage, grants and burn tables in, charges and balances out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import asyncpg

from agents import metrics
from agents.runner import Message, dead_letter_for, decode_all
from infra import tracing
from pipeline.billing import fold as billing
from pipeline.billing import needs as batch_needs
from pipeline.billing.state import PartitionState
from pipeline.codec import Codec
from pipeline.errors import DecodeError
from pipeline.publishing import Outgoing
from pipeline.records import DeadLetter, Record, UsageBatch, UsageRecorded
from pipeline.topics import ALERTS, customer_key
from projections.billing import state as billing_state
from projections.billing import writer as store

CONSUMER = "billing"
STAGE = "billing.charge"


@dataclass(slots=True)
class BillingProjection:
    """Folds billing records per partition; caches each partition's price catalog between batches."""

    codec: Codec
    consumer: str = CONSUMER
    stage: str = STAGE
    # Each partition's accounts, charges and catalog are its own (customers hash to one partition).
    partitions_apart: bool = True
    _catalogs: dict[tuple[str, int], tuple[int, PartitionState]] = field(default_factory=dict)

    async def apply(
        self, conn: asyncpg.Connection, topic: str, partition: int, messages: Sequence[Message]
    ) -> list[DeadLetter | Outgoing]:
        decoded, dead = decode_all(self.codec, self.stage, messages)
        records: list[tuple[int, Record]] = [(m.offset, r) for m, r in decoded]
        by_offset = {m.offset: m for m in messages}
        cached = self._catalogs.get((topic, partition))
        if cached is not None and cached[0] == messages[0].offset:
            catalog = cached[1].catalog
        else:
            catalog = await billing_state.load_catalog(conn, topic, partition)
        plain = batch_needs.flat(r for _, r in records)
        accounts, has_metered = await billing_state.load_accounts(conn, batch_needs.accounts_needed(plain))
        state = PartitionState(
            catalog=catalog,
            accounts=accounts,
            charged=await billing_state.load_charged(conn, batch_needs.usage_ids(plain)),
            charges=await billing_state.load_charges(conn, batch_needs.corrected_ids(plain)),
            metered=await billing_state.load_metered(conn, batch_needs.metering_needed(plain) & has_metered),
        )
        with tracing.maybe_span("fold", {"revos.records": len(records)}), metrics.FOLD_SECONDS.time():
            state, result = billing.fold(state, records)
        with (
            tracing.maybe_span("write charges", {"db.system": "postgresql"}) as span,
            metrics.WRITE_SECONDS.time(),
        ):
            await store.write(conn, topic=topic, partition=partition, state=state, result=result)
            if span is not None:
                span.set_attribute("revos.charges", len(result.charges))
        produced: list[DeadLetter | Outgoing] = list(dead)
        batches = {o: r for o, r in records if isinstance(r, UsageBatch)}
        for r in result.rejections:
            m = by_offset[r.offset]
            if r.part is not None:  # one event of a batch: dead-lettered alone, as a record of its own
                m = self.event_message(m, batches[r.offset].events[r.part])
            produced.append(
                dead_letter_for(
                    self.stage,
                    m,
                    r.code,
                    r.message,
                    error_class=r.code,
                    tenant_id=r.tenant_id,
                    event_id=r.event_id,
                    schema_fingerprint=self.codec.fingerprint_of(m.value),
                )
            )
        # Valid only if the transaction commits; a failed commit leaves the offset behind and misses.
        self._catalogs[(topic, partition)] = (
            messages[-1].offset + 1,
            PartitionState(catalog=state.catalog),
        )
        produced.extend(
            Outgoing(ALERTS, self.codec.encode(a), key=customer_key(a.tenant_id, a.customer))
            for a in result.alerts
        )
        return produced

    def event_message(self, batch: Message, event: UsageRecorded) -> Message:
        """One event of a batch record as a message of its own: the same place in the log, the event's
        own record and key; replaying its dead letter publishes exactly this record."""
        return replace(
            batch, key=customer_key(event.tenant_id, event.customer), value=self.codec.encode(event)
        )

    def split(self, message: Message) -> list[Message] | None:
        """A batch record's events as messages of their own (to isolate a poison event), else None."""
        try:
            record = self.codec.decode(message.value)
        except DecodeError:
            return None
        if not isinstance(record, UsageBatch):
            return None
        return [self.event_message(message, e) for e in record.events]
