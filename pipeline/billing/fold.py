"""The billing fold: one partition's records, in log order, become charges, grants and rejections.

Everything here is a pure function of the partition's records and the state derived from its
earlier records, so replaying the log yields identical charges and balances.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime
from decimal import Decimal

from pipeline.billing import corrections, ledger, metering, pricing
from pipeline.billing import state as partition_state
from pipeline.billing.state import BatchResult, Charge, HoldChange, PartitionState, Rejection
from pipeline.errors import UnpricedError
from pipeline.records import (
    BurnTablePublished,
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
    Watermark,
)

__all__ = ["fold"]


def fold(state: PartitionState, records: Iterable[tuple[int, Record]]) -> tuple[PartitionState, BatchResult]:
    """Apply `(offset, record)` pairs in order; returns the new state and what to write."""
    state = PartitionState(
        catalog={k: list(v) for k, v in state.catalog.items()},
        accounts=dict(state.accounts),
        charged=dict(state.charged),
        charges=dict(state.charges),
        metered={k: dict(v) for k, v in state.metered.items()},
    )
    out = BatchResult()
    for offset, record in records:
        if isinstance(record, UsageRecorded):
            _usage(state, out, offset, record)
        elif isinstance(record, UsageBatch):
            for part, usage in enumerate(record.events):
                _usage(state, out, offset, usage, part)
        elif isinstance(record, CreditsGranted):
            _grant(state, out, record)
        elif isinstance(record, BurnTablePublished):
            _publish(state, out, offset, record)
        elif isinstance(record, CustomerUpdated):
            _customer(state, out, record)
        elif isinstance(record, CreditsExpired):
            _close(state, out, offset, record, ledger.EXPIRED, record.expires_at)
        elif isinstance(record, GrantVoided):
            _close(state, out, offset, record, ledger.VOIDED, record.occurred_at)
        elif isinstance(record, UsageCorrected):
            corrections.correct(state, out, offset, record)
        elif isinstance(record, EntitlementSet):
            metering.entitlement(state, out, record)
        elif isinstance(record, HoldRequested):
            _hold(state, out, record)
        elif isinstance(record, HoldReleased):
            account, ended = ledger.end_hold(
                partition_state.account(state, record.tenant_id, record.customer), hold_id=record.hold_id
            )
            if ended is not None:
                out.holds.append(HoldChange(record.tenant_id, record.hold_id, "released"))
                partition_state.moved(state, out, account, ())
        elif isinstance(record, Watermark):
            if out.watermark is None or record.emitted_at > out.watermark.emitted_at:
                out.watermark = record
        else:
            out.rejections.append(
                Rejection(
                    offset, "unexpected_record", f"{type(record).__name__} does not belong on this topic"
                )
            )
    return state, out


def _usage(
    state: PartitionState, out: BatchResult, offset: int, usage: UsageRecorded, part: int | None = None
) -> None:
    seen = state.charged.get((usage.tenant_id, usage.event_id))
    if seen is not None:
        if seen != usage.customer:
            partition_state.reject(
                out,
                offset,
                "duplicate_id_conflict",
                f"event id {usage.event_id!r} was already charged to customer {seen!r}",
                usage.tenant_id,
                usage.event_id,
                part,
            )
        return  # a redelivery or client retry: already charged once
    account = partition_state.account(state, usage.tenant_id, usage.customer)
    versions = state.catalog.get((usage.tenant_id, account.burn_table), [])
    try:
        quote = pricing.price(versions, usage)
    except UnpricedError as exc:
        partition_state.reject(out, offset, exc.code, exc.message, usage.tenant_id, usage.event_id, part)
        return
    account, used = ledger.end_hold(account, event_id=usage.event_id)
    if used is not None:
        out.holds.append(HoldChange(usage.tenant_id, used.hold_id, "consumed"))
    account, allocations, entries = ledger.charge(account, quote.credits, usage.timestamp, usage.event_id)
    partition_state.moved(state, out, account, entries)
    state.charged[(usage.tenant_id, usage.event_id)] = usage.customer
    charge = Charge(
        tenant_id=usage.tenant_id,
        event_id=usage.event_id,
        customer=usage.customer,
        type=usage.type,
        quantity=usage.quantity,
        credits=quote.credits,
        cost=quote.cost,
        burn_table=quote.table,
        burn_table_version=quote.version,
        event_time=usage.timestamp,
        received_at=usage.received_at,
        allocations=allocations,
        offset=offset,
        properties=usage.properties,
    )
    state.charges[(usage.tenant_id, usage.event_id)] = charge
    out.charges.append(charge)
    metering.count(state, out, charge, 1)


def _grant(state: PartitionState, out: BatchResult, granted: CreditsGranted) -> None:
    account = partition_state.account(state, granted.tenant_id, granted.customer)
    if account.has_grant(granted.grant_id):
        return  # idempotent: the same grant id is applied once
    new = ledger.Grant(
        grant_id=granted.grant_id,
        amount=granted.amount,
        remaining=granted.amount,
        priority=granted.priority,
        effective_at=granted.effective_at,
        expires_at=granted.expires_at,
    )
    account, _settled, entries = ledger.grant(account, new)
    partition_state.moved(state, out, account, entries)
    out.grants.append(granted)


def _hold(state: PartitionState, out: BatchResult, r: HoldRequested) -> None:
    account = partition_state.account(state, r.tenant_id, r.customer)
    if any(h.hold_id == r.hold_id for h in account.holds):
        return  # the same request again
    hold = ledger.Hold(r.hold_id, r.credits, r.expires_at, r.event_id)
    account, placed, ended = ledger.place(account, hold, r.occurred_at)
    for h in ended:
        out.holds.append(HoldChange(r.tenant_id, h.hold_id, "expired"))
    out.holds.append(HoldChange(r.tenant_id, r.hold_id, "placed" if placed else "denied", r))
    partition_state.moved(state, out, account, ())


def _customer(state: PartitionState, out: BatchResult, record: CustomerUpdated) -> None:
    account = partition_state.account(state, record.tenant_id, record.customer)
    account = replace(account, burn_table=record.burn_table, credit_limit=record.credit_limit)
    account = ledger.set_thresholds(account, [Decimal(t) for t in record.alert_thresholds])
    partition_state.moved(state, out, account, ())
    out.customers.append(record)


def _close(
    state: PartitionState,
    out: BatchResult,
    offset: int,
    record: CreditsExpired | GrantVoided,
    status: str,
    at: datetime,
) -> None:
    account = partition_state.account(state, record.tenant_id, record.customer)
    if not account.has_grant(record.grant_id):
        partition_state.reject(
            out, offset, "grant_not_found", f"no grant {record.grant_id!r} for customer {record.customer!r}",
            record.tenant_id, record.event_id,
        )  # fmt: skip
        return
    account, entries = ledger.close(account, record.grant_id, status, at)
    partition_state.moved(state, out, account, entries)


def _publish(state: PartitionState, out: BatchResult, offset: int, table: BurnTablePublished) -> None:
    versions = state.catalog.setdefault((table.tenant_id, table.name), [])
    for known in versions:
        if known.version == table.version:
            if known.event_id != table.event_id:
                out.rejections.append(
                    Rejection(
                        offset,
                        "version_conflict",
                        f"burn table {table.name!r} v{table.version} was already published",
                        table.tenant_id,
                        table.event_id,
                    )
                )
            return
    versions.append(table)
    out.published.append(table)
