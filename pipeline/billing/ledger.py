"""A customer's credit account: grants burned down in a documented order, debt settled first,
and every movement written to a ledger whose entries always sum to the balance.

Burn order: higher `priority` first, then the soonest expiry (never-expiring last), then the
oldest `effective_at`, then grant id. A charge may spend only grants that are active, effective
and unexpired at the charge's event time; what no grant covers becomes debt, and the next grant
settles debt before anything else.

The ledger balance is what the account holds: the unspent credits of every active grant (also
those not yet effective) minus debt. Each operation appends entries whose `amount` is its signed
change to that balance, so `ledger_balance == sum(entry.amount)` always holds. A grant leaves the
ledger balance only through an entry: its expiry (an event the pipeline produces at `expires_at`)
or its void. Spendable balance at a moment (`balance(at)`) is narrower: only grants effective then.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal, localcontext

from pipeline.money import CONTEXT, ZERO, format_decimal

_FAR_FUTURE = datetime.max.timestamp()
DEFAULT_TABLE = "default"  # prices every customer not assigned another table

ACTIVE, EXPIRED, VOIDED = "active", "expired", "voided"
# Entry kinds, in the API's words.
GRANT, CHARGE, EXPIRY, VOID, CORRECTION, DEBT_SETTLEMENT = (
    "grant",
    "charge",
    "expiry",
    "void",
    "correction",
    "debt_settlement",
)
REFUND_PREFIX = "refund:"  # grants created for refunds no original grant could take back


@dataclass(frozen=True, slots=True)
class Grant:
    grant_id: str
    amount: Decimal
    remaining: Decimal
    priority: int
    effective_at: datetime
    expires_at: datetime | None
    status: str = ACTIVE

    def spendable_at(self, at: datetime) -> bool:
        return (
            self.status == ACTIVE
            and self.effective_at <= at
            and (self.expires_at is None or at < self.expires_at)
        )

    def burn_key(self) -> tuple[int, float, float, str]:
        expiry = _FAR_FUTURE if self.expires_at is None else self.expires_at.timestamp()
        return (-self.priority, expiry, self.effective_at.timestamp(), self.grant_id)


@dataclass(frozen=True, slots=True)
class Allocation:
    """How much of one charge one grant paid; grant_id None means it became debt."""

    grant_id: str | None
    credits: Decimal


@dataclass(frozen=True, slots=True)
class Entry:
    """One ledger movement: `amount` is the signed change to the ledger balance, `balance` the result."""

    seq: int
    kind: str
    amount: Decimal
    balance: Decimal
    reference: str  # the grant id or event id the movement belongs to
    at: datetime  # when it takes effect: event time, effective or expiry time, or correction time
    detail: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Hold:
    """Credits reserved until `expires_at`, or until usage `event_id` is charged, or released."""

    hold_id: str
    credits: Decimal
    expires_at: datetime
    event_id: str | None = None


@dataclass(frozen=True, slots=True)
class Account:
    tenant_id: str
    customer: str
    grants: tuple[Grant, ...] = ()
    debt: Decimal = ZERO
    burn_table: str = DEFAULT_TABLE  # the table that prices this customer's usage
    credit_limit: Decimal = ZERO  # how far the balance may go below zero before checks deny
    ledger_seq: int = 0  # the last entry's sequence number
    ledger_balance: Decimal = ZERO  # the sum of every entry
    alert_thresholds: tuple[Decimal, ...] = ()
    alerts_fired: frozenset[Decimal] = frozenset()  # thresholds the balance is at or below (disarmed)
    holds: tuple[Hold, ...] = ()  # placed holds (some may have passed their expiry since)

    def find(self, grant_id: str) -> Grant | None:
        return next((g for g in self.grants if g.grant_id == grant_id), None)

    def has_grant(self, grant_id: str) -> bool:
        return self.find(grant_id) is not None

    def balance(self, at: datetime) -> Decimal:
        """Spendable credits at `at` minus debt; negative when the customer owes credits."""
        with localcontext(CONTEXT):
            return sum((g.remaining for g in self.grants if g.spendable_at(at)), ZERO) - self.debt

    def on_hold(self, at: datetime) -> Decimal:
        """Credits reserved by holds still running at `at`."""
        with localcontext(CONTEXT):
            return sum((h.credits for h in self.holds if at < h.expires_at), ZERO)

    def held(self) -> Decimal:
        """What the ledger balance must equal: unspent credits of active grants minus debt."""
        with localcontext(CONTEXT):
            return sum((g.remaining for g in self.grants if g.status == ACTIVE), ZERO) - self.debt


def _append(
    account: Account,
    entries: list[Entry],
    kind: str,
    amount: Decimal,
    reference: str,
    at: datetime,
    detail: Mapping[str, str] | None = None,
) -> Account:
    seq = account.ledger_seq + 1
    balance = CONTEXT.add(account.ledger_balance, amount)
    entries.append(Entry(seq, kind, amount, balance, reference, at, detail or {}))
    return replace(account, ledger_seq=seq, ledger_balance=balance)


def _with_grant(account: Account, updated: Grant) -> Account:
    return replace(
        account, grants=tuple(updated if g.grant_id == updated.grant_id else g for g in account.grants)
    )


def grant(account: Account, new: Grant) -> tuple[Account, Decimal, list[Entry]]:
    """Add a grant, settling debt from it first; returns the account, the debt settled and entries."""
    entries: list[Entry] = []
    settled = min(account.debt, new.amount)
    added = replace(new, remaining=CONTEXT.subtract(new.amount, settled))
    debt = CONTEXT.subtract(account.debt, settled)
    account = replace(account, grants=(*account.grants, added), debt=debt)
    account = _append(account, entries, GRANT, new.amount, new.grant_id, new.effective_at)
    if settled > 0:
        # Not a change of balance (debt and credits cancel out), but a movement the customer sees.
        account = _append(
            account,
            entries,
            DEBT_SETTLEMENT,
            ZERO,
            new.grant_id,
            new.effective_at,
            {"settled": format_decimal(settled)},
        )
    return account, settled, entries


def charge(
    account: Account,
    credits: Decimal,
    at: datetime,
    reference: str = "",
    kind: str = CHARGE,
    detail: Mapping[str, str] | None = None,
) -> tuple[Account, tuple[Allocation, ...], list[Entry]]:
    """Burn `credits` from grants spendable at `at`, in burn order; the rest becomes debt."""
    if credits <= 0:
        return account, (), []
    left = credits
    allocations: list[Allocation] = []
    spendable = [i for i, g in enumerate(account.grants) if g.remaining > 0 and g.spendable_at(at)]
    if len(spendable) > 1:
        spendable.sort(key=lambda i: account.grants[i].burn_key())
    grants = account.grants
    if spendable:
        updated = list(grants)
        for i in spendable:
            g = grants[i]
            take = min(left, g.remaining)
            updated[i] = _spent(g, CONTEXT.subtract(g.remaining, take))
            allocations.append(Allocation(g.grant_id, take))
            left = CONTEXT.subtract(left, take)
            if left == 0:
                break
        grants = tuple(updated)
    debt = account.debt
    if left > 0:
        allocations.append(Allocation(None, left))
        debt = CONTEXT.add(debt, left)
    amount = CONTEXT.minus(credits)
    seq, balance = account.ledger_seq + 1, CONTEXT.add(account.ledger_balance, amount)
    entry = Entry(seq, kind, amount, balance, reference, at, detail or {})
    return _charged(account, grants, debt, seq, balance), tuple(allocations), [entry]


# A charge runs once per usage event, and dataclasses.replace() costs several times a constructor call:
# the charge's two copies are spelled out (a unit test holds them to replace()'s result).


def _spent(g: Grant, remaining: Decimal) -> Grant:
    return Grant(
        grant_id=g.grant_id,
        amount=g.amount,
        remaining=remaining,
        priority=g.priority,
        effective_at=g.effective_at,
        expires_at=g.expires_at,
        status=g.status,
    )


def _charged(
    account: Account, grants: tuple[Grant, ...], debt: Decimal, seq: int, balance: Decimal
) -> Account:
    return Account(
        tenant_id=account.tenant_id,
        customer=account.customer,
        grants=grants,
        debt=debt,
        burn_table=account.burn_table,
        credit_limit=account.credit_limit,
        ledger_seq=seq,
        ledger_balance=balance,
        alert_thresholds=account.alert_thresholds,
        alerts_fired=account.alerts_fired,
        holds=account.holds,
    )


def close(account: Account, grant_id: str, status: str, at: datetime) -> tuple[Account, list[Entry]]:
    """Expire or void an active grant: its unspent credits leave the balance. Otherwise nothing."""
    g = account.find(grant_id)
    if g is None or g.status != ACTIVE:
        return account, []
    account = _with_grant(account, replace(g, remaining=ZERO, status=status))
    entries: list[Entry] = []
    kind = EXPIRY if status == EXPIRED else VOID
    account = _append(account, entries, kind, CONTEXT.minus(g.remaining), grant_id, at)
    return account, entries


def refund(
    account: Account,
    credits: Decimal,
    allocations: Sequence[Allocation],
    reference: str,
    at: datetime,
    effective_at: datetime,
    detail: Mapping[str, str] | None = None,
) -> tuple[Account, tuple[Allocation, ...], list[Entry]]:
    """Give back `credits` of a charge: debt is reduced first, then the grants that paid get their
    credits back (newest allocation first) while they are active, and whatever is left becomes a
    never-expiring refund grant effective from `effective_at`. Returns what went where, as
    negative allocations."""
    if credits <= 0:
        return account, (), []
    left = credits
    moved: list[Allocation] = []
    from_debt = min(account.debt, left)
    if from_debt > 0:
        account = replace(account, debt=CONTEXT.subtract(account.debt, from_debt))
        moved.append(Allocation(None, CONTEXT.minus(from_debt)))
        left = CONTEXT.subtract(left, from_debt)
    for a in reversed(allocations):
        if left == 0:
            break
        g = account.find(a.grant_id) if a.grant_id is not None and a.credits > 0 else None
        if g is None or g.status != ACTIVE:
            continue
        back = min(left, a.credits, CONTEXT.subtract(g.amount, g.remaining))
        if back > 0:
            account = _with_grant(account, replace(g, remaining=CONTEXT.add(g.remaining, back)))
            moved.append(Allocation(g.grant_id, CONTEXT.minus(back)))
            left = CONTEXT.subtract(left, back)
    if left > 0:
        grant_id = REFUND_PREFIX + reference
        existing = account.find(grant_id)
        if existing is not None and existing.status == ACTIVE:
            updated = replace(
                existing,
                amount=CONTEXT.add(existing.amount, left),
                remaining=CONTEXT.add(existing.remaining, left),
            )
            account = _with_grant(account, updated)
        else:
            new = Grant(grant_id, left, left, 0, effective_at, None)
            account = replace(account, grants=(*account.grants, new))
        moved.append(Allocation(grant_id, CONTEXT.minus(left)))
    entries: list[Entry] = []
    account = _append(account, entries, CORRECTION, credits, reference, at, detail)
    return account, tuple(moved), entries


def crossed(account: Account) -> tuple[Account, list[Decimal]]:
    """Thresholds the ledger balance has just fallen to or below (each once until re-armed), and the
    account with thresholds the balance rose above re-armed."""
    fired = set(account.alerts_fired)
    newly: list[Decimal] = []
    for t in account.alert_thresholds:
        if account.ledger_balance <= t and t not in fired:
            fired.add(t)
            newly.append(t)
        elif account.ledger_balance > t and t in fired:
            fired.discard(t)
    if fired == account.alerts_fired:
        return account, newly
    return replace(account, alerts_fired=frozenset(fired)), newly


def set_thresholds(account: Account, thresholds: Sequence[Decimal]) -> Account:
    """New thresholds start disarmed where the balance already is at or below them: no crossing happened."""
    ordered = tuple(sorted(set(thresholds), reverse=True))
    fired = frozenset(t for t in ordered if account.ledger_balance <= t)
    return replace(account, alert_thresholds=ordered, alerts_fired=fired)


def place(account: Account, hold: Hold, at: datetime) -> tuple[Account, bool, tuple[Hold, ...]]:
    """Place `hold` if the balance at `at` plus the credit limit, minus the holds still running,
    covers it. Returns the account, whether it was placed, and the holds that had run out by `at`."""
    ended = tuple(h for h in account.holds if h.expires_at <= at)
    running = tuple(h for h in account.holds if at < h.expires_at)
    account = replace(account, holds=running)
    available = CONTEXT.subtract(CONTEXT.add(account.balance(at), account.credit_limit), account.on_hold(at))
    if hold.credits > available:
        return account, False, ended
    return replace(account, holds=(*running, hold)), True, ended


def end_hold(
    account: Account, *, hold_id: str | None = None, event_id: str | None = None
) -> tuple[Account, Hold | None]:
    """Remove the hold with `hold_id`, or the one held for usage `event_id`; None when there is none."""
    for h in account.holds:
        if (hold_id is not None and h.hold_id == hold_id) or (
            event_id is not None and h.event_id == event_id
        ):
            return replace(account, holds=tuple(x for x in account.holds if x is not h)), h
    return account, None
