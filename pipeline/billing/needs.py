"""What a batch needs loaded before it is folded: the accounts, charged ids, corrected charges and
metered entitlements its records refer to. Each function takes `flat` records (batches opened)."""

from __future__ import annotations

from collections.abc import Iterable

from pipeline.billing.state import AccountKey, EventKey
from pipeline.records import (
    CreditsExpired,
    CreditsGranted,
    CustomerUpdated,
    EntitlementSet,
    GrantVoided,
    HoldReleased,
    HoldRequested,
    Record,
    UsageBatch,
    UsageCorrected,
    UsageRecorded,
)

_PER_CUSTOMER = (
    UsageRecorded
    | CreditsGranted
    | CustomerUpdated
    | CreditsExpired
    | GrantVoided
    | UsageCorrected
    | EntitlementSet
    | HoldRequested
    | HoldReleased
)


def flat(records: Iterable[Record]) -> list[Record]:
    """The records with each UsageBatch replaced by its events."""
    out: list[Record] = []
    for r in records:
        if isinstance(r, UsageBatch):
            out.extend(r.events)
        else:
            out.append(r)
    return out


def accounts_needed(records: Iterable[Record]) -> set[AccountKey]:
    """The accounts a batch touches, so the adapter can load them before folding (pass `flat` records)."""
    return {(r.tenant_id, r.customer) for r in records if isinstance(r, _PER_CUSTOMER)}


def usage_ids(records: Iterable[Record]) -> set[EventKey]:
    return {(r.tenant_id, r.event_id) for r in records if isinstance(r, UsageRecorded)}


def corrected_ids(records: Iterable[Record]) -> set[EventKey]:
    """The charges a batch's corrections refer to, so the adapter can load them before folding."""
    return {(r.tenant_id, r.target_event_id) for r in records if isinstance(r, UsageCorrected)}


def metering_needed(records: Iterable[Record]) -> set[AccountKey]:
    """Accounts whose metered entitlements a batch's usage or corrections count against."""
    return {(r.tenant_id, r.customer) for r in records if isinstance(r, UsageRecorded | UsageCorrected)}
