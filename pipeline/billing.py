"""The billing fold: one partition's records, in log order, become charges, grants and rejections.

Everything here is a pure function of the partition's records and the state derived from its
earlier records, so replaying the log yields identical charges and balances.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal

from pipeline import ledger, pricing
from pipeline.errors import UnpricedError
from pipeline.ledger import DEFAULT_TABLE, Account, Allocation
from pipeline.records import BurnTablePublished, CreditsGranted, CustomerUpdated, Record, UsageRecorded

__all__ = ["DEFAULT_TABLE", "BatchResult", "Charge", "PartitionState", "Rejection", "fold"]

AccountKey = tuple[str, str]  # (tenant_id, customer)
TableKey = tuple[str, str]  # (tenant_id, burn table name)


@dataclass(frozen=True, slots=True)
class Charge:
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
    """What the fold needs to know from the partition's past: prices seen, accounts, charged ids."""

    catalog: dict[TableKey, list[BurnTablePublished]] = field(default_factory=dict)
    accounts: dict[AccountKey, Account] = field(default_factory=dict)
    charged: dict[tuple[str, str], str] = field(default_factory=dict)  # (tenant, event id) -> customer


@dataclass(slots=True)
class BatchResult:
    charges: list[Charge] = field(default_factory=list)
    grants: list[CreditsGranted] = field(default_factory=list)
    published: list[BurnTablePublished] = field(default_factory=list)
    customers: list[CustomerUpdated] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    touched: set[AccountKey] = field(default_factory=set)


def fold(state: PartitionState, records: Iterable[tuple[int, Record]]) -> tuple[PartitionState, BatchResult]:
    """Apply `(offset, record)` pairs in order; returns the new state and what to write."""
    state = PartitionState(
        catalog={k: list(v) for k, v in state.catalog.items()},
        accounts=dict(state.accounts),
        charged=dict(state.charged),
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
            key = (record.tenant_id, record.customer)
            state.accounts[key] = replace(
                _account(state, *key), burn_table=record.burn_table, credit_limit=record.credit_limit
            )
            out.touched.add(key)
            out.customers.append(record)
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


def _usage(state: PartitionState, out: BatchResult, offset: int, usage: UsageRecorded) -> None:
    seen = state.charged.get((usage.tenant_id, usage.event_id))
    if seen is not None:
        if seen != usage.customer:
            out.rejections.append(
                Rejection(
                    offset,
                    "duplicate_id_conflict",
                    f"event id {usage.event_id!r} was already charged to customer {seen!r}",
                    usage.tenant_id,
                    usage.event_id,
                )
            )
        return  # a redelivery or client retry: already charged once
    versions = state.catalog.get((usage.tenant_id, _account(state, usage.tenant_id, usage.customer).burn_table), [])
    try:
        quote = pricing.price(versions, usage)
    except UnpricedError as exc:
        out.rejections.append(Rejection(offset, exc.code, exc.message, usage.tenant_id, usage.event_id))
        return
    key = (usage.tenant_id, usage.customer)
    account, allocations = ledger.charge(_account(state, *key), quote.credits, usage.timestamp)
    state.accounts[key] = account
    state.charged[(usage.tenant_id, usage.event_id)] = usage.customer
    out.touched.add(key)
    out.charges.append(
        Charge(
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
        )
    )


def _grant(state: PartitionState, out: BatchResult, granted: CreditsGranted) -> None:
    key = (granted.tenant_id, granted.customer)
    account = _account(state, *key)
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
    state.accounts[key], _settled = ledger.grant(account, new)
    out.touched.add(key)
    out.grants.append(granted)


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


def accounts_needed(records: Iterable[Record]) -> set[AccountKey]:
    """The accounts a batch touches, so the adapter can load them before folding."""
    kinds = UsageRecorded | CreditsGranted | CustomerUpdated
    return {(r.tenant_id, r.customer) for r in records if isinstance(r, kinds)}


def usage_ids(records: Iterable[Record]) -> set[tuple[str, str]]:
    return {(r.tenant_id, r.event_id) for r in records if isinstance(r, UsageRecorded)}



def balances(state: PartitionState, keys: Iterable[AccountKey], at: datetime) -> Mapping[AccountKey, Decimal]:
    """Each account's balance at `at`, as the fold left it."""
    return {k: state.accounts[k].balance(at) for k in keys}
