"""The credit lifecycle through the billing fold: grants, charges, expiries, voids and corrections keep
the ledger equal to the balance, never spend a grant outside its window, and fire alerts once."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.billing import ledger, metering
from pipeline.billing import state as partition_state
from pipeline.billing.fold import fold
from pipeline.billing.ledger import Account, Entry
from pipeline.billing.state import PartitionState
from pipeline.records import (
    BurnRule,
    BurnTablePublished,
    CreditsExpired,
    CreditsGranted,
    CustomerUpdated,
    EntitlementSet,
    GrantVoided,
    HoldReleased,
    HoldRequested,
    Record,
    UsageCorrected,
    UsageRecorded,
)

T0 = datetime(2026, 3, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)
TENANT, CUSTOMER = "ten_1", "cus_1"
KEY = (TENANT, CUSTOMER)


def table(version: int, price: str, effective_at: datetime = T0 - 1000 * HOUR) -> BurnTablePublished:
    rules = (BurnRule("t", Decimal(price)), BurnRule("t", Decimal(price) * 2, {"tier": "pro"}))
    return BurnTablePublished(f"bt{version}", TENANT, "default", version, effective_at, rules, "cli", T0)


def usage(event_id: str, quantity: str, at: datetime = T0, **props: str) -> UsageRecorded:
    return UsageRecorded(event_id, TENANT, CUSTOMER, "t", at, Decimal(quantity), dict(props))


def granted(
    grant_id: str, amount: str, *, priority: int = 0, effective_at: datetime = T0 - HOUR,
    expires_at: datetime | None = None,
) -> CreditsGranted:  # fmt: skip
    return CreditsGranted(
        f"e_{grant_id}", TENANT, CUSTOMER, grant_id, Decimal(amount), priority, effective_at, expires_at, None,
        "cli", T0,
    )  # fmt: skip


def expired(grant_id: str, at: datetime) -> CreditsExpired:
    return CreditsExpired(f"exp_{grant_id}", TENANT, CUSTOMER, grant_id, at, at)


def voided(grant_id: str) -> GrantVoided:
    return GrantVoided(f"v_{grant_id}", TENANT, CUSTOMER, grant_id, None, "cli", T0)


def correction(n: int, target: str, action: str, quantity: str | None = None, **props: str) -> UsageCorrected:
    return UsageCorrected(
        f"cor_{n}", TENANT, CUSTOMER, target, action, None if quantity is None else Decimal(quantity),
        dict(props) if props else None, None, "cli", T0,
    )  # fmt: skip


def run(
    records: list[Record], state: PartitionState | None = None
) -> tuple[PartitionState, partition_state.BatchResult]:
    return fold(state or PartitionState(), list(enumerate(records)))


def entries(result: partition_state.BatchResult) -> list[Entry]:
    return [e for k, e in result.entries if k == KEY]


def account(state: PartitionState) -> Account:
    return state.accounts[KEY]


def check_ledger(state: PartitionState, result: partition_state.BatchResult) -> None:
    """The invariant: the ledger's entries sum to its balance, which is what the grants hold minus debt."""
    rows = entries(result)
    running = Decimal(0)
    for i, e in enumerate(rows, start=1):
        assert e.seq == i
        running += e.amount
        assert e.balance == running
    a = account(state)
    assert a.ledger_balance == running == a.held()
    assert a.ledger_seq == len(rows)
    for g in a.grants:
        assert 0 <= g.remaining <= g.amount
        assert g.status == ledger.ACTIVE or g.remaining == 0


# examples


def test_an_expiry_removes_the_unspent_part_as_a_ledger_entry() -> None:
    ends = T0 + HOUR
    state, out = run(
        [table(1, "1"), granted("g", "10", expires_at=ends), usage("u1", "3"), expired("g", ends)]
    )
    assert [(e.kind, e.amount, e.balance) for e in entries(out)] == [
        ("grant", 10, 10), ("charge", -3, 7), ("expiry", -7, 0),
    ]  # fmt: skip
    assert account(state).find("g") == replace(account(state).find("g"), remaining=0, status=ledger.EXPIRED)
    # A late event from before the expiry cannot spend what expired: it becomes debt.
    state, out = run([usage("u2", "1", at=T0)], state)
    assert out.charges[0].allocations == (ledger.Allocation(None, Decimal(1)),)
    check_ledger(
        *run([table(1, "1"), granted("g", "10", expires_at=ends), usage("u1", "3"), expired("g", ends)])
    )


def test_an_expiry_or_void_applies_once() -> None:
    records: list[Record] = [table(1, "1"), granted("g", "10"), voided("g"), voided("g"), expired("g", T0)]
    state, out = run(records)
    assert [(e.kind, e.amount) for e in entries(out)] == [("grant", 10), ("void", -10)]
    assert account(state).find("g").status == ledger.VOIDED  # type: ignore[union-attr]


def test_closing_an_unknown_grant_is_rejected() -> None:
    _, out = run([voided("nope")])
    assert [r.code for r in out.rejections] == ["grant_not_found"]


def test_a_void_refunds_the_grants_that_paid_and_a_second_void_changes_nothing() -> None:
    records: list[Record] = [
        table(1, "1"), granted("a", "5", priority=1), granted("b", "5"), usage("u1", "7"),
        correction(1, "u1", "void"), correction(2, "u1", "void"),
    ]  # fmt: skip
    state, out = run(records)
    assert {g.grant_id: g.remaining for g in account(state).grants} == {"a": 5, "b": 5}
    assert [(e.kind, e.amount) for e in entries(out)][-1] == ("correction", 7)
    assert [c.status for c in out.corrections] == ["applied", "unchanged"]
    assert out.corrected[(TENANT, "u1")].status == partition_state.VOIDED
    assert out.corrected[(TENANT, "u1")].credits == 0
    check_ledger(state, out)


def test_a_void_settles_debt_first_then_refunds_the_rest_as_a_refund_grant() -> None:
    ends = T0 + HOUR
    records: list[Record] = [
        table(1, "1"), granted("g", "4", expires_at=ends), usage("u1", "4"), expired("g", ends),
        usage("u2", "3", at=ends + HOUR), correction(1, "u1", "void"),
    ]  # fmt: skip
    state, out = run(records)
    a = account(state)
    assert a.debt == 0  # u2's 3 credits of debt were settled by the refund first
    assert a.find("refund:u1") is not None and a.find("refund:u1").remaining == 1  # type: ignore[union-attr]
    assert a.ledger_balance == 1
    check_ledger(state, out)


def test_an_amend_charges_or_refunds_the_difference_at_the_original_version() -> None:
    records: list[Record] = [table(1, "2"), granted("g", "100"), usage("u1", "3"), table(2, "10")]
    state, out = run([*records, correction(1, "u1", "amend", "5"), correction(2, "u1", "amend", "1")])
    amounts = [(e.kind, e.amount) for e in entries(out)]
    assert amounts[-2:] == [("correction", -4), ("correction", 8)]  # +2 units at 2, then -4 units at 2
    c = out.corrected[(TENANT, "u1")]
    assert (c.quantity, c.credits, c.status) == (1, 2, partition_state.AMENDED)
    assert account(state).ledger_balance == 98
    check_ledger(state, out)


def test_an_amend_of_properties_reprices_with_the_matching_rule() -> None:
    state, out = run(
        [table(1, "1"), granted("g", "100"), usage("u1", "3"), correction(1, "u1", "amend", tier="pro")]
    )
    assert out.corrected[(TENANT, "u1")].credits == 6
    check_ledger(state, out)


def test_amending_a_voided_event_or_correcting_an_unknown_one_is_rejected() -> None:
    records: list[Record] = [
        table(1, "1"), usage("u1", "1"), correction(1, "u1", "void"), correction(2, "u1", "amend", "2"),
        correction(3, "nope", "void"),
    ]  # fmt: skip
    _, out = run(records)
    assert [r.code for r in out.rejections] == ["event_voided", "event_not_found"]
    assert [c.status for c in out.corrections] == ["applied", "rejected", "rejected"]


def test_metered_usage_is_counted_per_period_and_uncounted_by_a_void() -> None:
    metered = EntitlementSet(
        "en", TENANT, CUSTOMER, "reports", "metered", None, None, "t", {}, Decimal(10), "day", "cli", T0
    )
    records: list[Record] = [
        table(1, "1"), metered, usage("u1", "2"), usage("u2", "3", at=T0 + 25 * HOUR), correction(1, "u1", "void"),
    ]  # fmt: skip
    _, out = run(records)
    day1 = (TENANT, CUSTOMER, "reports", metering.period_start(T0, "day"))
    day2 = (TENANT, CUSTOMER, "reports", metering.period_start(T0 + 25 * HOUR, "day"))
    assert out.counters == {day1: 0, day2: 3}


def test_each_threshold_fires_once_per_downward_crossing_and_a_grant_rearms_it() -> None:
    settings_ = CustomerUpdated("c", TENANT, CUSTOMER, "default", Decimal(0), {}, "cli", T0, ["10", "0"])
    records: list[Record] = [
        table(1, "1"), granted("a", "15"), settings_, usage("u1", "4"), usage("u2", "2"), usage("u3", "9"),
        usage("u4", "1"), granted("b", "20"), usage("u5", "10"),
    ]  # fmt: skip
    _, out = run(records)
    assert [(a.threshold, a.balance) for a in out.alerts] == [(10, 9), (0, 0), (10, 9)]
    assert len({a.alert_id for a in out.alerts}) == 3


def hold(
    hold_id: str, credits: str, *, at: datetime = T0, ttl: timedelta = HOUR, event_id: str | None = None
) -> HoldRequested:
    return HoldRequested(hold_id, TENANT, CUSTOMER, Decimal(credits), at + ttl, event_id, "cli", at)


def statuses(out: partition_state.BatchResult) -> dict[str, str]:
    return {h.hold_id: h.status for h in out.holds}


def test_concurrent_holds_never_reserve_more_than_the_balance_and_credit_limit() -> None:
    settings_ = CustomerUpdated("c", TENANT, CUSTOMER, "default", Decimal(5), {}, "cli", T0)
    records: list[Record] = [table(1, "1"), granted("g", "20"), settings_]
    records += [hold(f"h{i}", "1") for i in range(50)]
    state, out = run(records)
    decided = statuses(out)
    assert [decided[f"h{i}"] for i in range(50)] == ["placed"] * 25 + ["denied"] * 25  # 20 credits + 5 limit
    assert account(state).on_hold(T0) == 25


def test_a_hold_ends_when_its_usage_is_charged_when_released_or_when_it_expires() -> None:
    records: list[Record] = [
        table(1, "1"), granted("g", "3"),
        hold("used", "1", event_id="u1"), hold("freed", "1"), hold("brief", "1", ttl=timedelta(seconds=1)),
        hold("denied", "1"),
        usage("u1", "1"), HoldReleased("freed", TENANT, CUSTOMER, "cli", T0),
        hold("later", "2", at=T0 + timedelta(seconds=2)),
    ]  # fmt: skip
    state, out = run(records)
    assert [(h.hold_id, h.status) for h in out.holds] == [
        ("used", "placed"), ("freed", "placed"), ("brief", "placed"), ("denied", "denied"),
        ("used", "consumed"), ("freed", "released"), ("brief", "expired"), ("later", "placed"),
    ]  # fmt: skip
    assert [h.hold_id for h in account(state).holds] == ["later"]


# properties over any sequence of records

amounts = st.integers(1, 10**12).map(lambda n: Decimal(f"{n}E-6"))


@st.composite
def lifecycles(draw: st.DrawFn) -> list[Record]:
    records: list[Record] = [table(1, draw(st.sampled_from(["1", "0.5", "3"])))]
    grants: list[str] = []
    events: list[str] = []
    for n in range(draw(st.integers(1, 30))):
        op = draw(
            st.sampled_from(["grant", "usage", "usage", "expire", "void", "undo", "amend", "table", "hold"])
        )
        if op == "grant":
            grant_id = f"g{n}"
            effective = T0 + HOUR * draw(st.integers(-3, 3))
            hours = draw(st.none() | st.integers(1, 4))
            expires = None if hours is None else effective + HOUR * hours
            grants.append(grant_id)
            records.append(
                granted(grant_id, str(draw(amounts)), priority=draw(st.integers(-1, 1)), effective_at=effective,
                        expires_at=expires)
            )  # fmt: skip
        elif op == "usage":
            event_id = f"u{n}"
            events.append(event_id)
            props = {"tier": "pro"} if draw(st.booleans()) else {}
            records.append(usage(event_id, str(draw(amounts)), T0 + HOUR * draw(st.integers(-4, 8)), **props))
        elif op == "expire" and grants:
            records.append(expired(draw(st.sampled_from(grants)), T0 + HOUR * draw(st.integers(-3, 8))))
        elif op == "void" and grants:
            records.append(voided(draw(st.sampled_from(grants))))
        elif op == "undo" and events:
            records.append(correction(n, draw(st.sampled_from(events)), "void"))
        elif op == "amend" and events:
            props = {"tier": "pro"} if draw(st.booleans()) else {}
            records.append(correction(n, draw(st.sampled_from(events)), "amend", str(draw(amounts)), **props))
        elif op == "hold":
            at = T0 + HOUR * draw(st.integers(-2, 4))
            records.append(hold(f"h{n}", str(draw(amounts)), at=at, ttl=HOUR * draw(st.integers(1, 3))))
        elif op == "table":
            records.append(table(len([r for r in records if isinstance(r, BurnTablePublished)]) + 1, "7"))
    return records


@settings(max_examples=400, deadline=None)
@given(lifecycles())
def test_any_lifecycle_keeps_the_ledger_equal_to_the_balance(records: list[Record]) -> None:
    state, out = run(records)
    if KEY in state.accounts:
        check_ledger(state, out)


@settings(max_examples=400, deadline=None)
@given(lifecycles())
def test_no_charge_ever_spends_a_grant_outside_its_window_or_after_it_closed(records: list[Record]) -> None:
    state = PartitionState()
    for offset, record in enumerate(records):
        before = state.accounts.get(KEY, Account(TENANT, CUSTOMER))
        state, out = fold(state, [(offset, record)])
        for charge in out.charges:
            for a in charge.allocations:
                if a.grant_id is not None:
                    paid_by = before.find(a.grant_id)
                    assert paid_by is not None and paid_by.spendable_at(charge.event_time)
        for c in out.corrected.values():
            for a in c.allocations:
                # Net allocations never exceed what a grant ever held.
                g = state.accounts[KEY].find(a.grant_id) if a.grant_id else None
                assert g is None or a.credits <= g.amount


@settings(max_examples=200, deadline=None)
@given(lifecycles(), st.integers(1, 29))
def test_folding_in_two_batches_gives_the_same_ledger_as_one(records: list[Record], cut: int) -> None:
    whole_state, whole = run(records)
    first_state, first = fold(PartitionState(), list(enumerate(records[:cut])))
    second_state, second = fold(first_state, list(enumerate(records[cut:], start=cut)))
    assert [e for _, e in first.entries + second.entries] == [e for _, e in whole.entries]
    assert second_state.accounts == whole_state.accounts


@settings(max_examples=300, deadline=None)
@given(lifecycles())
def test_a_hold_is_placed_only_when_the_balance_covers_it_and_every_running_hold(
    records: list[Record],
) -> None:
    state = PartitionState()
    for offset, record in enumerate(records):
        before = state.accounts.get(KEY, Account(TENANT, CUSTOMER))
        state, out = fold(state, [(offset, record)])
        if isinstance(record, HoldRequested):
            at = record.occurred_at
            available = before.balance(at) + before.credit_limit - before.on_hold(at)
            assert statuses(out)[record.hold_id] == ("placed" if record.credits <= available else "denied")
