"""A customer's credit account: grants burned down in a documented order, debt settled first.

Burn order: higher `priority` first, then the soonest expiry (never-expiring last), then the
oldest `effective_at`, then grant id. A charge may spend only grants that are effective and
unexpired at the charge's event time; what no grant covers becomes debt, and the next grant
settles debt before anything else.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal, localcontext

from pipeline.money import CONTEXT, ZERO

_FAR_FUTURE = datetime.max.timestamp()
DEFAULT_TABLE = "default"  # prices every customer not assigned another table


@dataclass(frozen=True, slots=True)
class Grant:
    grant_id: str
    amount: Decimal
    remaining: Decimal
    priority: int
    effective_at: datetime
    expires_at: datetime | None

    def spendable_at(self, at: datetime) -> bool:
        return self.effective_at <= at and (self.expires_at is None or at < self.expires_at)

    def burn_key(self) -> tuple[int, float, float, str]:
        expiry = _FAR_FUTURE if self.expires_at is None else self.expires_at.timestamp()
        return (-self.priority, expiry, self.effective_at.timestamp(), self.grant_id)


@dataclass(frozen=True, slots=True)
class Allocation:
    """How much of one charge one grant paid; grant_id None means it became debt."""

    grant_id: str | None
    credits: Decimal


@dataclass(frozen=True, slots=True)
class Account:
    tenant_id: str
    customer: str
    grants: tuple[Grant, ...] = ()
    debt: Decimal = ZERO
    burn_table: str = DEFAULT_TABLE  # the table that prices this customer's usage
    credit_limit: Decimal = ZERO  # how far the balance may go below zero before checks deny

    def has_grant(self, grant_id: str) -> bool:
        return any(g.grant_id == grant_id for g in self.grants)

    def balance(self, at: datetime) -> Decimal:
        """Spendable credits at `at` minus debt; negative when the customer owes credits."""
        with localcontext(CONTEXT):
            return sum((g.remaining for g in self.grants if g.spendable_at(at)), ZERO) - self.debt


def grant(account: Account, new: Grant) -> tuple[Account, Decimal]:
    """Add a grant, settling debt from it first; returns the account and the debt settled."""
    settled = min(account.debt, new.amount)
    added = replace(new, remaining=CONTEXT.subtract(new.amount, settled))
    debt = CONTEXT.subtract(account.debt, settled)
    return replace(account, grants=(*account.grants, added), debt=debt), settled


def charge(account: Account, credits: Decimal, at: datetime) -> tuple[Account, tuple[Allocation, ...]]:
    """Burn `credits` from grants spendable at `at`, in burn order; the rest becomes debt."""
    if credits <= 0:
        return account, ()
    left = credits
    allocations: list[Allocation] = []
    updated = {g.grant_id: g for g in account.grants}
    for g in sorted(
        (g for g in account.grants if g.remaining > 0 and g.spendable_at(at)), key=Grant.burn_key
    ):
        take = min(left, g.remaining)
        updated[g.grant_id] = replace(g, remaining=CONTEXT.subtract(g.remaining, take))
        allocations.append(Allocation(g.grant_id, take))
        left = CONTEXT.subtract(left, take)
        if left == 0:
            break
    debt = account.debt
    if left > 0:
        allocations.append(Allocation(None, left))
        debt = CONTEXT.add(debt, left)
    grants = tuple(updated[g.grant_id] for g in account.grants)
    return replace(account, grants=grants, debt=debt), tuple(allocations)
