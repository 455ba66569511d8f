"""The billing fold: one partition's records, in log order, become charges, grants and rejections.

Everything here is a pure function of the partition's records and the state derived from its
earlier records, so replaying the log yields identical charges and balances.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal

from pipeline import ledger, pricing
from pipeline.errors import UnpricedError
from pipeline.ledger import DEFAULT_TABLE, Account, Allocation, Entry
from pipeline.money import CONTEXT, ZERO
from pipeline.records import (
    BalanceThresholdCrossed,
    BurnTablePublished,
    CreditsExpired,
    CreditsGranted,
    CustomerUpdated,
    EntitlementSet,
    GrantVoided,
    HoldReleased,
    HoldRequested,
    Properties,
    Record,
    UsageCorrected,
    UsageRecorded,
    Watermark,
)

__all__ = ["DEFAULT_TABLE", "BatchResult", "Charge", "Correction", "PartitionState", "Rejection", "fold"]

AccountKey = tuple[str, str]  # (tenant_id, customer)
TableKey = tuple[str, str]  # (tenant_id, burn table name)
EventKey = tuple[str, str]  # (tenant_id, event id)
CounterKey = tuple[str, str, str, datetime]  # (tenant_id, customer, feature, period start)

CHARGED, AMENDED, VOIDED = "charged", "amended", "voided"
_ALERT_NAMESPACE = uuid.UUID("6f1d7c52-8a0e-4b59-9d44-0d6f0f3a7c11")


@dataclass(frozen=True, slots=True)
class Charge:
    """A usage event's charge as it stands: after corrections, `credits` and `allocations` are net."""

    tenant_id: str
    event_id: str
    customer: str
    type: str
    quantity: Decimal
    credits: Decimal
    cost: Decimal | None
    burn_table: str
    burn_table_version: int
    event_time: datetime
    received_at: datetime | None
    allocations: tuple[Allocation, ...]
    offset: int
    properties: Properties = field(default_factory=dict)
    status: str = CHARGED


@dataclass(frozen=True, slots=True)
class Correction:
    """What a void or amend did: `applied`, `unchanged` (nothing to do) or `rejected` with a code."""

    record: UsageCorrected
    status: str
    code: str | None = None
    message: str | None = None
    credits_before: Decimal | None = None
    credits_after: Decimal | None = None


@dataclass(frozen=True, slots=True)
class HoldChange:
    """A hold decided (placed or denied) or ended (consumed, released or expired)."""

    tenant_id: str
    hold_id: str
    status: str
    request: HoldRequested | None = None  # set when the hold was decided by this batch


@dataclass(frozen=True, slots=True)
class Rejection:
    """A record this stage refuses; it goes to the dead-letter topic with this code."""

    offset: int
    code: str
    message: str
    tenant_id: str | None = None
    event_id: str | None = None


@dataclass(slots=True)
class PartitionState:
    """What the fold needs to know from the partition's past: prices seen, accounts, charged ids,
    the charges that corrections refer to, and the metered entitlements usage counts against."""

    catalog: dict[TableKey, list[BurnTablePublished]] = field(default_factory=dict)
    accounts: dict[AccountKey, Account] = field(default_factory=dict)
    charged: dict[EventKey, str] = field(default_factory=dict)  # (tenant, event id) -> customer
    charges: dict[EventKey, Charge] = field(default_factory=dict)
    metered: dict[AccountKey, dict[str, EntitlementSet]] = field(default_factory=dict)


@dataclass(slots=True)
class BatchResult:
    charges: list[Charge] = field(default_factory=list)
    grants: list[CreditsGranted] = field(default_factory=list)
    published: list[BurnTablePublished] = field(default_factory=list)
    customers: list[CustomerUpdated] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    touched: set[AccountKey] = field(default_factory=set)
    entries: list[tuple[AccountKey, Entry]] = field(default_factory=list)
    corrected: dict[EventKey, Charge] = field(default_factory=dict)  # charges' new state
    corrections: list[Correction] = field(default_factory=list)
    entitlements: list[EntitlementSet] = field(default_factory=list)
    counters: dict[CounterKey, Decimal] = field(default_factory=dict)  # usage to add per period
    alerts: list[BalanceThresholdCrossed] = field(default_factory=list)
    holds: list[HoldChange] = field(default_factory=list)
    watermark: Watermark | None = None


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
            _correct(state, out, offset, record)
        elif isinstance(record, EntitlementSet):
            _entitlement(state, out, record)
        elif isinstance(record, HoldRequested):
            _hold(state, out, record)
        elif isinstance(record, HoldReleased):
            account, ended = ledger.end_hold(
                _account(state, record.tenant_id, record.customer), hold_id=record.hold_id
            )
            if ended is not None:
                out.holds.append(HoldChange(record.tenant_id, record.hold_id, "released"))
                _moved(state, out, account, ())
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


def _account(state: PartitionState, tenant_id: str, customer: str) -> Account:
    key = (tenant_id, customer)
    account = state.accounts.get(key)
    if account is None:
        account = state.accounts[key] = Account(tenant_id, customer)
    return account


def _moved(state: PartitionState, out: BatchResult, account: Account, entries: Sequence[Entry]) -> None:
    """Keep an account after a ledger operation: its entries, and alerts for thresholds it crossed."""
    key = (account.tenant_id, account.customer)
    for entry in entries:
        out.entries.append((key, entry))
    if entries:
        account, newly = ledger.crossed(account)
        last = entries[-1]
        for threshold in newly:
            name = f"{key[0]}|{key[1]}|{last.seq}|{threshold}"
            out.alerts.append(
                BalanceThresholdCrossed(
                    alert_id="alr_" + uuid.uuid5(_ALERT_NAMESPACE, name).hex,
                    tenant_id=key[0],
                    customer=key[1],
                    threshold=threshold,
                    balance=account.ledger_balance,
                    ledger_seq=last.seq,
                    occurred_at=last.at,
                )
            )
    state.accounts[key] = account
    out.touched.add(key)


def _reject(out: BatchResult, offset: int, code: str, message: str, tenant_id: str, event_id: str) -> None:
    out.rejections.append(Rejection(offset, code, message, tenant_id, event_id))


def _usage(state: PartitionState, out: BatchResult, offset: int, usage: UsageRecorded) -> None:
    seen = state.charged.get((usage.tenant_id, usage.event_id))
    if seen is not None:
        if seen != usage.customer:
            _reject(
                out,
                offset,
                "duplicate_id_conflict",
                f"event id {usage.event_id!r} was already charged to customer {seen!r}",
                usage.tenant_id,
                usage.event_id,
            )
        return  # a redelivery or client retry: already charged once
    account = _account(state, usage.tenant_id, usage.customer)
    versions = state.catalog.get((usage.tenant_id, account.burn_table), [])
    try:
        quote = pricing.price(versions, usage)
    except UnpricedError as exc:
        _reject(out, offset, exc.code, exc.message, usage.tenant_id, usage.event_id)
        return
    account, used = ledger.end_hold(account, event_id=usage.event_id)
    if used is not None:
        out.holds.append(HoldChange(usage.tenant_id, used.hold_id, "consumed"))
    account, allocations, entries = ledger.charge(account, quote.credits, usage.timestamp, usage.event_id)
    _moved(state, out, account, entries)
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
    _count(state, out, charge, 1)


def _grant(state: PartitionState, out: BatchResult, granted: CreditsGranted) -> None:
    account = _account(state, granted.tenant_id, granted.customer)
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
    _moved(state, out, account, entries)
    out.grants.append(granted)


def _hold(state: PartitionState, out: BatchResult, r: HoldRequested) -> None:
    account = _account(state, r.tenant_id, r.customer)
    if any(h.hold_id == r.hold_id for h in account.holds):
        return  # the same request again
    hold = ledger.Hold(r.hold_id, r.credits, r.expires_at, r.event_id)
    account, placed, ended = ledger.place(account, hold, r.occurred_at)
    for h in ended:
        out.holds.append(HoldChange(r.tenant_id, h.hold_id, "expired"))
    out.holds.append(HoldChange(r.tenant_id, r.hold_id, "placed" if placed else "denied", r))
    _moved(state, out, account, ())


def _customer(state: PartitionState, out: BatchResult, record: CustomerUpdated) -> None:
    account = _account(state, record.tenant_id, record.customer)
    account = replace(account, burn_table=record.burn_table, credit_limit=record.credit_limit)
    account = ledger.set_thresholds(account, [Decimal(t) for t in record.alert_thresholds])
    _moved(state, out, account, ())
    out.customers.append(record)


def _close(
    state: PartitionState,
    out: BatchResult,
    offset: int,
    record: CreditsExpired | GrantVoided,
    status: str,
    at: datetime,
) -> None:
    account = _account(state, record.tenant_id, record.customer)
    if not account.has_grant(record.grant_id):
        _reject(
            out, offset, "grant_not_found", f"no grant {record.grant_id!r} for customer {record.customer!r}",
            record.tenant_id, record.event_id,
        )  # fmt: skip
        return
    account, entries = ledger.close(account, record.grant_id, status, at)
    _moved(state, out, account, entries)


def _entitlement(state: PartitionState, out: BatchResult, record: EntitlementSet) -> None:
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


def _count(state: PartitionState, out: BatchResult, charge: Charge, sign: int) -> None:
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


def _correct(state: PartitionState, out: BatchResult, offset: int, c: UsageCorrected) -> None:
    target = (c.tenant_id, c.target_event_id)
    charge = state.charges.get(target)

    def reject(code: str, message: str) -> None:
        _reject(out, offset, code, message, c.tenant_id, c.event_id)
        out.corrections.append(Correction(c, "rejected", code, message))

    if charge is None or charge.customer != c.customer:
        reject("event_not_found", f"no charged event {c.target_event_id!r} for customer {c.customer!r}")
        return
    if charge.status == VOIDED:
        if c.action == "void":
            out.corrections.append(Correction(c, "unchanged", None, None, ZERO, ZERO))  # already voided
        else:
            reject("event_voided", f"event {c.target_event_id!r} was voided and cannot be amended")
        return
    account = _account(state, c.tenant_id, c.customer)
    detail = {"correction_id": c.event_id, "action": c.action}
    if c.action == "void":
        updated = replace(charge, credits=ZERO, cost=None if charge.cost is None else ZERO, status=VOIDED)
    else:
        amended = UsageRecorded(
            event_id=charge.event_id,
            tenant_id=charge.tenant_id,
            customer=charge.customer,
            type=charge.type,
            timestamp=charge.event_time,
            quantity=charge.quantity if c.quantity is None else c.quantity,
            properties=charge.properties if c.properties is None else c.properties,
        )
        versions = [
            v
            for v in state.catalog.get((c.tenant_id, charge.burn_table), [])
            if v.version == charge.burn_table_version
        ]
        try:
            quote = pricing.price(versions, amended)  # the version that priced the original
        except UnpricedError as exc:
            reject(exc.code, exc.message)
            return
        updated = replace(
            charge,
            quantity=amended.quantity,
            properties=amended.properties,
            credits=quote.credits,
            cost=quote.cost,
            status=AMENDED,
        )
    difference = CONTEXT.subtract(updated.credits, charge.credits)
    if difference > 0:
        account, more, entries = ledger.charge(
            account, difference, charge.event_time, charge.event_id, ledger.CORRECTION, detail
        )
    elif difference < 0:
        account, more, entries = ledger.refund(
            account, CONTEXT.minus(difference), charge.allocations, charge.event_id, c.occurred_at,
            charge.event_time, detail,
        )  # fmt: skip
    else:
        more, entries = (), []
    updated = replace(updated, allocations=net_allocations((*charge.allocations, *more)))
    _moved(state, out, account, entries)
    _count(state, out, charge, -1)
    if updated.status != VOIDED:
        _count(state, out, updated, 1)
    state.charges[target] = updated
    out.corrected[target] = updated
    out.corrections.append(Correction(c, "applied", None, None, charge.credits, updated.credits))


def net_allocations(allocations: Iterable[Allocation]) -> tuple[Allocation, ...]:
    """Allocations summed per grant (None: debt), in first-seen order, dropping those netting to zero."""
    totals: dict[str | None, Decimal] = {}
    for a in allocations:
        totals[a.grant_id] = CONTEXT.add(totals.get(a.grant_id, ZERO), a.credits)
    return tuple(Allocation(g, c) for g, c in totals.items() if c != 0)


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


def accounts_needed(records: Iterable[Record]) -> set[AccountKey]:
    """The accounts a batch touches, so the adapter can load them before folding."""
    return {(r.tenant_id, r.customer) for r in records if isinstance(r, _PER_CUSTOMER)}


def usage_ids(records: Iterable[Record]) -> set[EventKey]:
    return {(r.tenant_id, r.event_id) for r in records if isinstance(r, UsageRecorded)}


def corrected_ids(records: Iterable[Record]) -> set[EventKey]:
    """The charges a batch's corrections refer to, so the adapter can load them before folding."""
    return {(r.tenant_id, r.target_event_id) for r in records if isinstance(r, UsageCorrected)}


def metering_needed(records: Iterable[Record]) -> set[AccountKey]:
    """Accounts whose metered entitlements a batch's usage or corrections count against."""
    return {(r.tenant_id, r.customer) for r in records if isinstance(r, UsageRecorded | UsageCorrected)}


def balances(state: PartitionState, keys: Iterable[AccountKey], at: datetime) -> Mapping[AccountKey, Decimal]:
    """Each account's balance at `at`, as the fold left it."""
    return {k: state.accounts[k].balance(at) for k in keys}
