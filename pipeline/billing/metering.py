"""Metered entitlements: which features a customer's usage counts against, and the per-period counts."""

from __future__ import annotations

from datetime import UTC, datetime

from pipeline.billing import pricing
from pipeline.billing.state import BatchResult, Charge, PartitionState
from pipeline.money import CONTEXT, ZERO
from pipeline.records import EntitlementSet


def entitlement(state: PartitionState, out: BatchResult, record: EntitlementSet) -> None:
    features = state.metered.setdefault((record.tenant_id, record.customer), {})
    if record.kind == "metered":
        features[record.feature] = record
    else:
        features.pop(record.feature, None)
    out.entitlements.append(record)


def period_start(at: datetime, period: str) -> datetime:
    """The UTC day or calendar month that `at` falls in."""
    at = at.astimezone(UTC)
    if period == "day":
        return datetime(at.year, at.month, at.day, tzinfo=UTC)
    return datetime(at.year, at.month, 1, tzinfo=UTC)


def count(state: PartitionState, out: BatchResult, charge: Charge, sign: int) -> None:
    """Count (or, with sign -1, uncount) a charge's usage against the metered entitlements it matches."""
    for feature, e in state.metered.get((charge.tenant_id, charge.customer), {}).items():
        if e.event_type != charge.type or not pricing.matches(e.match, charge.properties):
            continue
        key = (
            charge.tenant_id,
            charge.customer,
            feature,
            period_start(charge.event_time, e.period or "month"),
        )
        quantity = charge.quantity if sign > 0 else CONTEXT.minus(charge.quantity)
        out.counters[key] = CONTEXT.add(out.counters.get(key, ZERO), quantity)
