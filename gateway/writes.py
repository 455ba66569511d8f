"""The admin write recipe, once: the records go out with their audit entries, then the write waits,
with a deadline, until its projection shows it (read your writes).

Routes build the record and its audit entry; `Writer.publish` sends both in one call, so no change is
recorded without its entry, nor an entry without its change, and `Writer.wait` answers whether the
projection shows it before the deadline. The CLI's admin commands use the same writer, with their own
publisher and pool.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
from starlette.requests import Request

from pipeline.admin import audit
from pipeline.admin.audit_topic import audit_outgoing
from pipeline.codec import Codec
from pipeline.publishing import Outgoing, Publisher
from pipeline.records import (
    ApiKeyIssued,
    ApiKeyRevoked,
    AssistantChanged,
    AuditRecorded,
    CreditsGranted,
    CustomerUpdated,
    EntitlementSet,
    GrantVoided,
    TenantCreated,
    UsageCorrected,
    WebhookEndpointChanged,
    WebhookRedeliveryRequested,
)
from pipeline.topics import ADMIN, BILLING, customer_key, tenant_key
from projections.admin import Caller
from projections.waiting import wait_for, wait_for_value

# The admin records a route writes on a customer's billing stream, and on a tenant's admin stream.
CustomerChange = CreditsGranted | CustomerUpdated | EntitlementSet | GrantVoided | UsageCorrected
TenantChange = (
    AssistantChanged
    | ApiKeyIssued
    | ApiKeyRevoked
    | TenantCreated
    | WebhookEndpointChanged
    | WebhookRedeliveryRequested
)


def audit_entry(
    request: Request,
    who: Caller,
    *,
    action: str,
    target: str,
    before: Mapping[str, Any] | None,
    after: Mapping[str, Any] | None,
    now: datetime,
) -> AuditRecorded:
    """The audit entry of a change the caller's key makes in this request."""
    return audit.record(
        tenant_id=who.tenant_id,
        actor=who.actor,
        action=action,
        target=target,
        before=before,
        after=after,
        request_id=request.state.request_id,
        now=now,
    )


@dataclass(frozen=True, slots=True)
class Writer:
    publisher: Publisher
    codec: Codec
    pool: asyncpg.Pool
    timeout: float

    def to_customer(self, record: CustomerChange) -> Outgoing:
        """The record on its customer's billing partition, in order with that customer's usage."""
        return Outgoing(
            BILLING, self.codec.encode(record), key=customer_key(record.tenant_id, record.customer)
        )

    def to_tenant(self, record: TenantChange) -> Outgoing:
        """The record on its tenant's admin partition."""
        return Outgoing(ADMIN, self.codec.encode(record), key=tenant_key(record.tenant_id))

    async def publish(self, records: Sequence[Outgoing], trail: Sequence[AuditRecorded]) -> None:
        """Publish the records and their audit entries in one call."""
        await self.publisher.publish([*records, *(audit_outgoing(self.codec, t) for t in trail)])

    async def wait(self, applied: str, *args: Any) -> bool:
        """True once the projection query `applied` returns a row; False if the deadline passes first."""
        return await wait_for(self.pool, applied, *args, timeout=self.timeout)

    async def wait_value(self, applied: str, *args: Any) -> Any:
        """The first column of `applied`'s row once there is one; None if the deadline passes first."""
        return await wait_for_value(self.pool, applied, *args, timeout=self.timeout)

    async def write(
        self, records: Sequence[Outgoing], trail: Sequence[AuditRecorded], applied: str, *args: Any
    ) -> bool:
        """Publish the records with their audit entries; True once `applied` (with `args`) finds them."""
        await self.publish(records, trail)
        return await self.wait(applied, *args)
