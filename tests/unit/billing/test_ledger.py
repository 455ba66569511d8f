"""The credit ledger: burn order, spendability at event time, debt, and its invariants (no I/O)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.billing.ledger import Account, Allocation, Grant, charge, grant
from pipeline.money import ZERO

T0 = datetime(2026, 3, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)


def g(
    grant_id: str,
    amount: str,
    *,
    priority: int = 0,
    effective_at: datetime = T0,
    expires_at: datetime | None = None,
) -> Grant:
    return Grant(grant_id, Decimal(amount), Decimal(amount), priority, effective_at, expires_at)


def account_with(*grants: Grant) -> Account:
    account = Account("ten_1", "cus_1")
    for new in grants:
        account, _, _ = grant(account, new)
    return account


def remaining(account: Account) -> dict[str, Decimal]:
    return {x.grant_id: x.remaining for x in account.grants}


def burned_ids(allocations: tuple[Allocation, ...]) -> list[str | None]:
    return [a.grant_id for a in allocations]


# burn order


def test_higher_priority_burns_first_even_if_it_expires_later() -> None:
    account = account_with(
        g("low", "10", priority=0, expires_at=T0 + HOUR * 2),
        g("high", "10", priority=5, expires_at=T0 + HOUR * 100),
    )
    account, allocations, _ = charge(account, Decimal("12"), T0 + HOUR)
    assert allocations == (Allocation("high", Decimal("10")), Allocation("low", Decimal("2")))
    assert remaining(account) == {"low": Decimal("8"), "high": Decimal("0")}


def test_negative_priority_burns_after_the_default() -> None:
    account = account_with(g("neg", "5", priority=-1), g("zero", "5", priority=0))
    _, allocations, _ = charge(account, Decimal("1"), T0)
    assert burned_ids(allocations) == ["zero"]


def test_within_a_priority_the_soonest_expiry_burns_first_and_never_expiring_last() -> None:
    account = account_with(
        g("forever", "1"),
        g("week", "1", expires_at=T0 + timedelta(days=7)),
        g("day", "1", expires_at=T0 + timedelta(days=1)),
    )
    _, allocations, _ = charge(account, Decimal("3"), T0)
    assert burned_ids(allocations) == ["day", "week", "forever"]


def test_then_the_oldest_effective_grant_burns_first() -> None:
    account = account_with(
        g("newer", "1", effective_at=T0 - HOUR),
        g("older", "1", effective_at=T0 - HOUR * 2),
    )
    _, allocations, _ = charge(account, Decimal("2"), T0)
    assert burned_ids(allocations) == ["older", "newer"]


def test_then_the_grant_id_breaks_ties() -> None:
    account = account_with(g("b", "1"), g("c", "1"), g("a", "1"))
    _, allocations, _ = charge(account, Decimal("3"), T0)
    assert burned_ids(allocations) == ["a", "b", "c"]


def test_priority_outranks_expiry_outranks_age_outranks_id() -> None:
    account = account_with(
        g("a-old-forever", "1", effective_at=T0 - HOUR * 9),
        g("z-new-soon", "1", effective_at=T0 - HOUR, expires_at=T0 + HOUR),
        g("m-prio", "1", priority=1, effective_at=T0 - HOUR, expires_at=T0 + HOUR * 50),
        g("b-new-forever", "1", effective_at=T0 - HOUR),
        g("a-new-forever", "1", effective_at=T0 - HOUR),
    )
    _, allocations, _ = charge(account, Decimal("5"), T0)
    assert burned_ids(allocations) == [
        "m-prio",
        "z-new-soon",
        "a-old-forever",
        "a-new-forever",
        "b-new-forever",
    ]


def test_a_charge_spans_grants_and_stops_when_covered() -> None:
    account = account_with(g("a", "0.3"), g("b", "0.3"), g("c", "0.3"))
    account, allocations, _ = charge(account, Decimal("0.5"), T0)
    assert allocations == (Allocation("a", Decimal("0.3")), Allocation("b", Decimal("0.2")))
    assert remaining(account) == {"a": Decimal("0"), "b": Decimal("0.1"), "c": Decimal("0.3")}
    assert account.debt == 0


def test_grants_keep_their_order_in_the_account() -> None:
    account = account_with(g("b", "1"), g("a", "1"))
    account, _, _ = charge(account, Decimal("1"), T0)
    assert [x.grant_id for x in account.grants] == ["b", "a"]
    assert remaining(account) == {"b": Decimal("1"), "a": Decimal("0")}


# spendable at event time


def test_a_grant_is_spendable_from_effective_at_until_just_before_expires_at() -> None:
    window = g("w", "1", effective_at=T0, expires_at=T0 + HOUR)
    assert not window.spendable_at(T0 - timedelta(microseconds=1))
    assert window.spendable_at(T0)
    assert window.spendable_at(T0 + HOUR - timedelta(microseconds=1))
    assert not window.spendable_at(T0 + HOUR)


def test_an_expired_grant_is_not_spent() -> None:
    account = account_with(g("expired", "10", effective_at=T0 - HOUR * 2, expires_at=T0), g("live", "10"))
    account, allocations, _ = charge(account, Decimal("3"), T0)
    assert allocations == (Allocation("live", Decimal("3")),)
    assert remaining(account)["expired"] == Decimal("10")


def test_a_grant_not_yet_effective_is_not_spent() -> None:
    account = account_with(g("future", "10", priority=9, effective_at=T0 + HOUR), g("now", "10"))
    account, allocations, _ = charge(account, Decimal("3"), T0)
    assert allocations == (Allocation("now", Decimal("3")),)
    assert remaining(account)["future"] == Decimal("10")


def test_a_late_event_spends_the_grants_that_were_spendable_at_its_event_time() -> None:
    # The event happened while "old" was live, even though "old" has expired by now.
    account = account_with(
        g("old", "5", effective_at=T0 - HOUR * 10, expires_at=T0 - HOUR),
        g("new", "5", priority=9, effective_at=T0),
    )
    account, allocations, _ = charge(account, Decimal("2"), T0 - HOUR * 5)
    assert allocations == (Allocation("old", Decimal("2")),)
    assert remaining(account) == {"old": Decimal("3"), "new": Decimal("5")}


def test_balance_counts_only_grants_spendable_at_the_given_time() -> None:
    account = account_with(
        g("a", "1", effective_at=T0, expires_at=T0 + HOUR),
        g("b", "10", effective_at=T0 + HOUR),
    )
    assert account.balance(T0 - HOUR) == 0
    assert account.balance(T0) == Decimal("1")
    assert account.balance(T0 + HOUR) == Decimal("10")


# debt


def test_a_charge_nothing_covers_becomes_debt() -> None:
    account, allocations, _ = charge(Account("ten_1", "cus_1"), Decimal("4"), T0)
    assert allocations == (Allocation(None, Decimal("4")),)
    assert account.debt == Decimal("4")
    assert account.balance(T0) == Decimal("-4")


def test_the_uncovered_part_of_a_charge_becomes_debt() -> None:
    account, allocations, _ = charge(account_with(g("a", "3")), Decimal("5"), T0)
    assert allocations == (Allocation("a", Decimal("3")), Allocation(None, Decimal("2")))
    assert account.debt == Decimal("2")
    assert account.balance(T0) == Decimal("-2")


def test_a_new_grant_settles_debt_first() -> None:
    account, _, _ = charge(Account("ten_1", "cus_1"), Decimal("4"), T0)
    account, settled, _ = grant(account, g("a", "10"))
    assert settled == Decimal("4")
    assert account.debt == 0
    assert remaining(account) == {"a": Decimal("6")}
    assert account.balance(T0) == Decimal("6")


def test_a_grant_smaller_than_the_debt_is_used_up_and_debt_remains() -> None:
    account, _, _ = charge(Account("ten_1", "cus_1"), Decimal("4"), T0)
    account, settled, _ = grant(account, g("a", "1.5"))
    assert settled == Decimal("1.5")
    assert account.debt == Decimal("2.5")
    assert remaining(account) == {"a": Decimal("0")}
    _, allocations, _ = charge(account, Decimal("1"), T0)
    assert allocations == (Allocation(None, Decimal("1")),)


def test_a_grant_without_debt_keeps_its_whole_amount() -> None:
    account, settled, _ = grant(Account("ten_1", "cus_1"), g("a", "10"))
    assert settled == 0
    assert remaining(account) == {"a": Decimal("10")}


def test_zero_or_negative_charges_change_nothing() -> None:
    account = account_with(g("a", "1"))
    assert charge(account, Decimal("0"), T0) == (account, (), [])
    assert charge(account, Decimal("-1"), T0) == (account, (), [])


def test_has_grant() -> None:
    account = account_with(g("a", "1"))
    assert account.has_grant("a")
    assert not account.has_grant("b")


def test_large_balances_stay_exact() -> None:
    # 29 significant digits: beyond the default decimal context, which would round the sum.
    amount = "9000000000000000000.000000001"
    account = account_with(g("a", amount), g("b", amount))
    assert account.balance(T0) == Decimal("18000000000000000000.000000002")
    account, _, _ = charge(account, Decimal("0.000000001"), T0)
    assert account.balance(T0) == Decimal("18000000000000000000.000000001")


# properties over any sequence of grants and charges

credits = st.integers(0, 10**22).map(lambda n: Decimal(f"{n}E-9"))
positive_credits = st.integers(1, 10**22).map(lambda n: Decimal(f"{n}E-9"))


@dataclass(frozen=True)
class GrantOp:
    grant: Grant


@dataclass(frozen=True)
class ChargeOp:
    credits: Decimal
    at: datetime


@st.composite
def grant_ops(draw: st.DrawFn, always_spendable: bool) -> GrantOp:
    amount = draw(positive_credits)
    if always_spendable:
        effective, expires = T0 - HOUR * 1000, None
    else:
        effective = T0 + HOUR * draw(st.integers(-5, 5))
        hours = draw(st.none() | st.integers(1, 6))
        expires = None if hours is None else effective + HOUR * hours
    return GrantOp(
        Grant(
            grant_id=f"g{draw(st.integers(0, 10**6))}",
            amount=amount,
            remaining=amount,
            priority=draw(st.integers(-2, 2)),
            effective_at=effective,
            expires_at=expires,
        )
    )


def charge_ops() -> st.SearchStrategy[ChargeOp]:
    return st.builds(ChargeOp, credits, st.integers(-6, 12).map(lambda h: T0 + HOUR * h))


def operations(always_spendable: bool) -> st.SearchStrategy[list[GrantOp | ChargeOp]]:
    return st.lists(grant_ops(always_spendable) | charge_ops(), max_size=25)


@dataclass
class Run:
    account: Account
    charged: Decimal
    granted: Decimal
    allocated: Decimal


def run(ops: list[GrantOp | ChargeOp]) -> Run:
    """Apply the operations, checking the per-step invariants; returns the totals."""
    account = Account("ten_1", "cus_1")
    charged = granted = allocated = Decimal(0)
    for op in ops:
        if isinstance(op, GrantOp):
            if account.has_grant(op.grant.grant_id):
                continue  # grant ids are unique per account; the fold guarantees it
            debt_before = account.debt
            account, settled, _ = grant(account, op.grant)
            granted += op.grant.amount
            assert settled == min(debt_before, op.grant.amount)
            # Debt is settled first: either it is gone, or the new grant is used up.
            assert account.debt == 0 or account.grants[-1].remaining == 0
        else:
            before = {x.grant_id: x for x in account.grants}
            account, allocations, _ = charge(account, op.credits, op.at)
            charged += op.credits
            total = sum((a.credits for a in allocations), Decimal(0))
            allocated += total
            assert total == op.credits  # every credit is paid by a grant or becomes debt
            assert all(a.credits > 0 for a in allocations)
            paid_by = [a.grant_id for a in allocations if a.grant_id is not None]
            assert len(paid_by) == len(set(paid_by))
            assert [a.grant_id for a in allocations].count(None) <= 1
            for grant_id in paid_by:
                # Never spend a grant that was expired or not yet effective at the event time.
                assert before[grant_id].spendable_at(op.at)
            check_burn_order(before, account, allocations, op)
        check_account(account)
    return Run(account, charged, granted, allocated)


def check_burn_order(
    before: dict[str, Grant], after: Account, allocations: tuple[Allocation, ...], op: ChargeOp
) -> None:
    paid = [(before[a.grant_id], a.credits) for a in allocations if a.grant_id is not None]
    keys = [x.burn_key() for x, _ in paid]
    assert keys == sorted(keys)
    for x, credits in paid[:-1]:
        assert credits == x.remaining  # every grant but the last one paid was drained
    paid_ids = {x.grant_id for x, _ in paid}
    untouched = [
        x for x in before.values() if x.spendable_at(op.at) and x.remaining > 0 and x.grant_id not in paid_ids
    ]
    for x in untouched:
        # A spendable grant left alone: the charge was covered by grants earlier in burn order.
        assert None not in {a.grant_id for a in allocations}
        assert (keys and x.burn_key() > keys[-1]) or op.credits == 0
    if None in {a.grant_id for a in allocations}:
        assert all(x.remaining == 0 for x in after.grants if x.spendable_at(op.at))


def check_account(account: Account) -> None:
    assert isinstance(account.debt, Decimal) and account.debt >= 0
    for x in account.grants:
        assert isinstance(x.remaining, Decimal) and isinstance(x.amount, Decimal)
        assert 0 <= x.remaining <= x.amount
        assert x.remaining.as_tuple().exponent >= -9


@settings(max_examples=300)
@given(operations(always_spendable=False))
def test_every_charge_is_fully_allocated_and_nothing_is_created_or_lost(
    ops: list[GrantOp | ChargeOp],
) -> None:
    result = run(ops)
    assert result.allocated == result.charged
    # Conservation holds whether or not grants are spendable: remaining minus debt is grants minus charges.
    total_remaining = sum((x.remaining for x in result.account.grants), Decimal(0))
    assert total_remaining - result.account.debt == result.granted - result.charged


@settings(max_examples=300)
@given(operations(always_spendable=True))
def test_balance_is_grants_minus_charges_when_every_grant_is_spendable(ops: list[GrantOp | ChargeOp]) -> None:
    result = run(ops)
    balance = result.account.balance(T0)
    assert isinstance(balance, Decimal)
    assert balance == result.granted - result.charged


@given(st.lists(grant_ops(always_spendable=False), max_size=6), st.lists(charge_ops(), max_size=10))
def test_a_grant_never_spendable_at_any_charge_time_is_never_spent(
    grants: list[GrantOp], charges: list[ChargeOp]
) -> None:
    # Grants first, so no debt exists for them to settle: anything they lose would have been spent.
    result = run([*grants, *charges])
    for x in result.account.grants:
        if not any(x.spendable_at(c.at) for c in charges):
            assert x.remaining == x.amount


@given(st.lists(st.integers(1, 10**6).map(lambda n: Decimal(f"{n}E-9")), min_size=1, max_size=30))
def test_small_amounts_never_drift_the_way_floats_do(amounts: list[Decimal]) -> None:
    total = sum(amounts, Decimal(0))
    account = account_with(g("a", str(total)))
    for amount in amounts:
        account, _, _ = charge(account, amount, T0)
    assert account.grants[0].remaining == 0 and account.debt == 0
    assert account.balance(T0) == ZERO


def test_the_charges_spelled_out_copies_equal_replace() -> None:
    from dataclasses import fields, replace

    from pipeline.billing.ledger import _charged, _spent

    g = Grant("g1", Decimal(5), Decimal(4), 2, T0, T0 + timedelta(days=1), "active")
    assert _spent(g, Decimal(1)) == replace(g, remaining=Decimal(1))
    # A distinct value in every field: a field added to Account but not to _charged fails here.
    account = Account(**{f.name: f"x_{f.name}" for f in fields(Account)})  # type: ignore[arg-type]
    assert _charged(account, (g,), Decimal(3), 7, Decimal(-2)) == replace(
        account, grants=(g,), debt=Decimal(3), ledger_seq=7, ledger_balance=Decimal(-2)
    )
