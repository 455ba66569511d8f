"""What the billing fold reads and writes: a partition's state, a batch's result, and the small
operations every handler shares (find an account, keep it after a ledger move, reject a record)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from pipeline.billing import ledger
from pipeline.billing.ledger import Account, Allocation, Entry
from pipeline.records import (
    BalanceThresholdCrossed,
    BurnTablePublished,
    CreditsGranted,
    CustomerUpdated,
    EntitlementSet,
    HoldRequested,
    Properties,
    UsageCorrected,
    Watermark,
)

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
    part: int | None = None  # the event's place in a UsageBatch at `offset`; None for a whole record


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


def account(state: PartitionState, tenant_id: str, customer: str) -> Account:
    key = (tenant_id, customer)
    account = state.accounts.get(key)
    if account is None:
        account = state.accounts[key] = Account(tenant_id, customer)
    return account


def moved(state: PartitionState, out: BatchResult, account: Account, entries: Sequence[Entry]) -> None:
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


def reject(
    out: BatchResult,
    offset: int,
    code: str,
    message: str,
    tenant_id: str,
    event_id: str,
    part: int | None = None,
) -> None:
    out.rejections.append(Rejection(offset, code, message, tenant_id, event_id, part))


def balances(state: PartitionState, keys: Iterable[AccountKey], at: datetime) -> Mapping[AccountKey, Decimal]:
    """Each account's balance at `at`, as the fold left it."""
    return {k: state.accounts[k].balance(at) for k in keys}
