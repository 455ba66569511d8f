"""The billing fold: charges at event-time prices, idempotency, rejections, and replay determinism."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.billing import fold as billing
from pipeline.billing.fold import fold
from pipeline.billing.ledger import DEFAULT_TABLE, Allocation
from pipeline.billing.needs import accounts_needed, usage_ids
from pipeline.billing.state import BatchResult, PartitionState, balances
from pipeline.records import (
    BurnRule,
    BurnTablePublished,
    CreditsGranted,
    DeadLetterReplayed,
    PropertyValue,
    Record,
    TenantCreated,
    UsageRecorded,
)

T0 = datetime(2026, 3, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)


def usage(
    event_id: str,
    *,
    customer: str = "cus_1",
    tenant: str = "ten_1",
    type_: str = "llm.tokens",
    quantity: str = "1",
    at: datetime = T0,
    received_at: datetime | None = None,
    **properties: PropertyValue,
) -> UsageRecorded:
    return UsageRecorded(
        event_id=event_id,
        tenant_id=tenant,
        customer=customer,
        type=type_,
        timestamp=at,
        quantity=Decimal(quantity),
        properties=dict(properties),
        received_at=received_at,
    )


def granted(
    grant_id: str,
    amount: str,
    *,
    customer: str = "cus_1",
    tenant: str = "ten_1",
    event_id: str | None = None,
    priority: int = 0,
    effective_at: datetime = T0 - HOUR * 24,
    expires_at: datetime | None = None,
) -> CreditsGranted:
    return CreditsGranted(
        event_id=event_id or f"evt_{grant_id}",
        tenant_id=tenant,
        customer=customer,
        grant_id=grant_id,
        amount=Decimal(amount),
        priority=priority,
        effective_at=effective_at,
        expires_at=expires_at,
        reason=None,
        actor="key_admin",
        occurred_at=T0,
    )


def published(
    version: int,
    *rules: BurnRule,
    effective_at: datetime = T0 - HOUR * 24,
    event_id: str | None = None,
    tenant: str = "ten_1",
    name: str = DEFAULT_TABLE,
) -> BurnTablePublished:
    return BurnTablePublished(
        event_id=event_id or f"evt_{name}_v{version}",
        tenant_id=tenant,
        name=name,
        version=version,
        effective_at=effective_at,
        rules=rules or (BurnRule("llm.tokens", Decimal("2")),),
        actor="key_admin",
        occurred_at=T0,
    )


def run(*records: Record, state: PartitionState | None = None) -> tuple[PartitionState, BatchResult]:
    return fold(state or PartitionState(), list(enumerate(records)))


def codes(result: BatchResult) -> list[str]:
    return [r.code for r in result.rejections]


# charging


def test_usage_is_charged_with_the_default_table_in_force_at_event_time() -> None:
    state, out = run(
        published(
            1, BurnRule("llm.tokens", Decimal("2"), cost_per_unit=Decimal("0.5")), effective_at=T0 - HOUR
        ),
        published(2, BurnRule("llm.tokens", Decimal("3")), effective_at=T0 + HOUR),
        granted("g1", "100"),
        usage("e1", quantity="10", at=T0, received_at=T0 + HOUR * 3),
        usage("e2", quantity="10", at=T0 + HOUR * 2),
    )
    assert [(c.event_id, c.credits, c.cost, c.burn_table, c.burn_table_version) for c in out.charges] == [
        ("e1", Decimal("20"), Decimal("5"), DEFAULT_TABLE, 1),
        ("e2", Decimal("30"), None, DEFAULT_TABLE, 2),
    ]
    first = out.charges[0]
    assert (first.tenant_id, first.customer, first.type, first.quantity) == (
        "ten_1",
        "cus_1",
        "llm.tokens",
        10,
    )
    assert (first.event_time, first.received_at, first.offset) == (T0, T0 + HOUR * 3, 3)
    assert first.allocations == (Allocation("g1", Decimal("20")),)
    assert out.rejections == []
    assert balances(state, [("ten_1", "cus_1")], T0) == {("ten_1", "cus_1"): Decimal("50")}
    assert out.touched == {("ten_1", "cus_1")}


def test_a_late_event_is_charged_with_the_version_in_force_when_it_happened() -> None:
    _, out = run(
        published(1, BurnRule("llm.tokens", Decimal("1")), effective_at=T0 - HOUR * 48),
        published(2, BurnRule("llm.tokens", Decimal("5")), effective_at=T0),
        usage("late", at=T0 - HOUR * 24),
    )
    assert [(c.credits, c.burn_table_version) for c in out.charges] == [(Decimal("1"), 1)]


def test_only_the_default_table_prices_usage() -> None:
    _, out = run(published(1, name="enterprise"), usage("e1"))
    assert out.charges == []
    assert codes(out) == ["unpriced"]


def test_tables_are_tenant_scoped() -> None:
    _, out = run(published(1, tenant="ten_2"), usage("e1", tenant="ten_1"), usage("e1", tenant="ten_2"))
    assert [(c.tenant_id, c.event_id) for c in out.charges] == [("ten_2", "e1")]
    assert codes(out) == ["unpriced"]


def test_a_charge_without_credits_becomes_debt_and_the_next_grant_settles_it() -> None:
    state, out = run(published(1), usage("e1", quantity="5"), granted("g1", "25"))
    assert out.charges[0].allocations == (Allocation(None, Decimal("10")),)
    account = state.accounts[("ten_1", "cus_1")]
    assert account.debt == 0
    assert account.grants[0].remaining == Decimal("15")
    assert out.grants == [granted("g1", "25")]


# idempotency and conflicts


def test_a_redelivered_usage_event_is_charged_once() -> None:
    state, out = run(published(1), granted("g1", "100"), usage("e1"), usage("e1"))
    assert [c.event_id for c in out.charges] == ["e1"]
    assert out.rejections == []
    _, again = run(usage("e1"), state=state)
    assert again.charges == [] and again.rejections == []
    assert state.accounts[("ten_1", "cus_1")].balance(T0) == Decimal("98")


def test_the_same_id_for_another_customer_is_rejected_as_a_conflict() -> None:
    state, out = run(published(1), usage("e1", customer="cus_1"), usage("e1", customer="cus_2"))
    assert [c.customer for c in out.charges] == ["cus_1"]
    [rejection] = out.rejections
    assert (rejection.code, rejection.offset, rejection.tenant_id, rejection.event_id) == (
        "duplicate_id_conflict",
        2,
        "ten_1",
        "e1",
    )
    assert "cus_1" in rejection.message
    assert ("ten_1", "cus_2") not in state.accounts


def test_event_ids_are_unique_per_tenant_not_globally() -> None:
    _, out = run(published(1), published(1, tenant="ten_2"), usage("e1"), usage("e1", tenant="ten_2"))
    assert [(c.tenant_id, c.event_id) for c in out.charges] == [("ten_1", "e1"), ("ten_2", "e1")]
    assert out.rejections == []


def test_an_unpriced_event_is_rejected_and_not_remembered_so_a_replay_charges_it() -> None:
    state, out = run(usage("e1", quantity="3"))
    [rejection] = out.rejections
    assert (rejection.code, rejection.offset, rejection.event_id) == ("unpriced", 0, "e1")
    assert out.charges == []
    assert ("ten_1", "e1") not in state.charged
    # The operator fixes the burn table, then replays the dead letter: it is charged now.
    state, _ = run(published(1), state=state)
    _, replayed = fold(state, [(7, usage("e1", quantity="3"))])
    assert [(c.event_id, c.credits, c.offset) for c in replayed.charges] == [("e1", Decimal("6"), 7)]
    assert replayed.rejections == []


def test_an_event_of_a_type_the_table_does_not_price_is_unpriced() -> None:
    _, out = run(published(1), usage("e1", type_="llm.calls"))
    assert codes(out) == ["unpriced"]
    assert "llm.calls" in out.rejections[0].message


def test_a_redelivered_grant_is_applied_once() -> None:
    state, out = run(granted("g1", "10"), granted("g1", "10", event_id="evt_retry"))
    assert out.grants == [granted("g1", "10")]
    assert state.accounts[("ten_1", "cus_1")].balance(T0) == Decimal("10")
    _, again = run(granted("g1", "10"), state=state)
    assert again.grants == [] and again.touched == set()


def test_a_republished_table_version_with_the_same_event_id_is_ignored() -> None:
    state, out = run(published(1), published(1))
    assert out.published == [published(1)]
    assert out.rejections == []
    assert state.catalog[("ten_1", DEFAULT_TABLE)] == [published(1)]


def test_a_table_version_published_twice_with_different_event_ids_is_a_conflict() -> None:
    original = published(1, BurnRule("llm.tokens", Decimal("2")), event_id="evt_a")
    clash = published(1, BurnRule("llm.tokens", Decimal("9")), event_id="evt_b")
    state, out = run(original, clash, usage("e1"))
    [rejection] = out.rejections
    assert (rejection.code, rejection.offset, rejection.event_id) == ("version_conflict", 1, "evt_b")
    assert out.published == [original]
    assert [c.credits for c in out.charges] == [Decimal("2")]  # the first publication stands
    assert state.catalog[("ten_1", DEFAULT_TABLE)] == [original]


def test_records_of_other_types_are_rejected_as_unexpected() -> None:
    tenant = TenantCreated("evt_t", "ten_1", "Acme", "key_admin", T0)
    replayed = DeadLetterReplayed("dl_1", "billing", "key_admin", T0)
    _, out = run(tenant, replayed)
    assert [(r.offset, r.code) for r in out.rejections] == [
        (0, "unexpected_record"),
        (1, "unexpected_record"),
    ]
    assert "TenantCreated" in out.rejections[0].message


def test_fold_does_not_mutate_the_state_it_was_given() -> None:
    state, _ = run(published(1), granted("g1", "10"), usage("e1"))
    snapshot = (dict(state.catalog), list(state.catalog[("ten_1", DEFAULT_TABLE)]), dict(state.accounts))
    charged = dict(state.charged)
    fold(state, [(9, usage("e2")), (10, published(2)), (11, granted("g2", "5"))])
    assert (dict(state.catalog), state.catalog[("ten_1", DEFAULT_TABLE)], dict(state.accounts)) == snapshot
    assert state.charged == charged


def test_helpers_list_the_accounts_and_usage_ids_a_batch_needs() -> None:
    records: list[Record] = [
        usage("e1", customer="a"),
        granted("g1", "1", customer="b", tenant="ten_2"),
        published(1),
        usage("e2", customer="a"),
    ]
    assert accounts_needed(records) == {("ten_1", "a"), ("ten_2", "b")}
    assert usage_ids(records) == {("ten_1", "e1"), ("ten_1", "e2")}


# determinism: any split of the log into batches gives the same result

RULES = (
    BurnRule("llm.tokens", Decimal("0.000002")),
    BurnRule("llm.tokens", Decimal("0.00001"), match={"model": "big"}, cost_per_unit=Decimal("0.000004")),
    BurnRule("report.completed", Decimal("50")),
)
hours = st.integers(-4, 4).map(lambda h: T0 + HOUR * h)
amounts = st.integers(1, 10**13).map(lambda n: Decimal(f"{n}E-9"))


def usage_records() -> st.SearchStrategy[UsageRecorded]:
    return st.builds(
        UsageRecorded,
        event_id=st.sampled_from(["e1", "e2", "e3", "e4", "e5"]),
        tenant_id=st.sampled_from(["ten_1", "ten_1", "ten_2"]),
        customer=st.sampled_from(["a", "b"]),
        type=st.sampled_from(["llm.tokens", "llm.tokens", "report.completed", "unpriced.type"]),
        timestamp=hours,
        quantity=st.integers(0, 10**4).map(Decimal),
        properties=st.sampled_from([{}, {"model": "big"}, {"model": "small"}]),
    )


def grant_records() -> st.SearchStrategy[CreditsGranted]:
    return st.builds(
        CreditsGranted,
        event_id=st.sampled_from(["ge1", "ge2"]),
        tenant_id=st.sampled_from(["ten_1", "ten_1", "ten_2"]),
        customer=st.sampled_from(["a", "b"]),
        grant_id=st.sampled_from(["g1", "g2", "g3"]),
        amount=amounts,
        priority=st.integers(-1, 1),
        effective_at=st.sampled_from([T0 - HOUR * 5, T0 - HOUR * 5, T0, T0 + HOUR * 2]),
        expires_at=st.none() | hours.map(lambda t: t + HOUR * 6),
        reason=st.none(),
        actor=st.just("key_admin"),
        occurred_at=st.just(T0),
    )


def table_records() -> st.SearchStrategy[BurnTablePublished]:
    return st.builds(
        BurnTablePublished,
        event_id=st.sampled_from(["te1", "te2"]),
        tenant_id=st.sampled_from(["ten_1", "ten_1", "ten_2"]),
        name=st.sampled_from([DEFAULT_TABLE, DEFAULT_TABLE, "other"]),
        version=st.integers(1, 3),
        effective_at=st.sampled_from([T0 - HOUR * 5, T0 - HOUR * 5, T0, T0 + HOUR * 2]),
        rules=st.lists(st.sampled_from(range(len(RULES))), min_size=1, max_size=3, unique=True).map(
            lambda indexes: tuple(RULES[i] for i in indexes)
        ),
        actor=st.just("key_admin"),
        occurred_at=st.just(T0),
    )


# Mostly tables first, so that most usage is priced; tables later in the log leave earlier usage unpriced.
BASE = [published(1, *RULES, tenant=tenant, event_id=f"te_base_{tenant}") for tenant in ("ten_1", "ten_2")]
logs = st.builds(
    lambda base, head, tail: [*base, *head, *tail],
    st.sampled_from([BASE, BASE[:1], []]),
    st.lists(table_records(), max_size=2),
    st.lists(
        st.one_of(
            usage_records(),
            usage_records(),
            grant_records(),
            grant_records(),
            table_records(),
            st.just(TenantCreated("evt_t", "ten_1", "Acme", "key_admin", T0)),
        ),
        max_size=40,
    ),
)


def fold_in_chunks(records: list[Record], cuts: list[int]) -> tuple[PartitionState, BatchResult]:
    state = PartitionState()
    total = BatchResult()
    bounds = [0, *sorted(c % (len(records) + 1) for c in cuts), len(records)]
    pairs = list(enumerate(records))
    for start, end in itertools.pairwise(bounds):
        state, out = fold(state, pairs[start:end])
        total.charges += out.charges
        total.grants += out.grants
        total.published += out.published
        total.rejections += out.rejections
        total.touched |= out.touched
    return state, total


@settings(max_examples=200)
@given(logs, st.lists(st.integers(0, 100), max_size=6))
def test_folding_in_any_chunks_equals_folding_in_one_batch(records: list[Record], cuts: list[int]) -> None:
    whole_state, whole = fold(PartitionState(), list(enumerate(records)))
    state, chunked = fold_in_chunks(records, cuts)
    assert chunked.charges == whole.charges
    assert chunked.grants == whole.grants
    assert chunked.published == whole.published
    assert chunked.rejections == whole.rejections
    assert chunked.touched == whole.touched
    assert state.accounts == whole_state.accounts
    assert state.charged == whole_state.charged
    assert state.catalog == whole_state.catalog
    # Conservation: what was charged is exactly what grants lost plus debt.
    for (tenant, customer), account in whole_state.accounts.items():
        charged = sum(
            (c.credits for c in whole.charges if (c.tenant_id, c.customer) == (tenant, customer)), Decimal(0)
        )
        given_ = sum((g.amount for g in account.grants), Decimal(0))
        left = sum((g.remaining for g in account.grants), Decimal(0))
        assert given_ - left + account.debt == charged


@settings(max_examples=200)
@given(logs)
def test_redelivering_the_whole_log_charges_only_what_was_unpriced(records: list[Record]) -> None:
    state, first = fold(PartitionState(), list(enumerate(records)))
    again_state, again = fold(state, list(enumerate(records)))
    assert again.grants == [] and again.published == []
    unpriced = {(r.tenant_id, r.event_id) for r in first.rejections if r.code == "unpriced"}
    assert {(c.tenant_id, c.event_id) for c in again.charges} <= unpriced
    if not again.charges:
        assert again_state.accounts == state.accounts
        assert again_state.charged == state.charged
    # Each (tenant, event id) is charged at most once across both passes.
    ids = [(c.tenant_id, c.event_id) for c in first.charges + again.charges]
    assert len(ids) == len(set(ids))


def test_a_customer_is_priced_by_its_assigned_table_from_the_update_on() -> None:
    from pipeline.records import BurnRule, BurnTablePublished, CustomerUpdated, UsageRecorded

    at = datetime(2026, 11, 1, tzinfo=UTC)

    def table(name: str, price: str) -> BurnTablePublished:
        return BurnTablePublished(
            f"bt-{name}", "ten_1", name, 1, at, (BurnRule("t", Decimal(price)),), "a", at
        )

    def use(event_id: str) -> UsageRecorded:
        return UsageRecorded(event_id, "ten_1", "vip", "t", at + timedelta(hours=1), Decimal(2), {}, None)

    update = CustomerUpdated("cu1", "ten_1", "vip", "premium", Decimal(100), {}, "a", at)
    records = [table("default", "1"), table("premium", "5"), use("before"), update, use("after")]
    state, out = billing.fold(PartitionState(), list(enumerate(records)))
    assert [(c.event_id, c.credits, c.burn_table) for c in out.charges] == [
        ("before", Decimal(2), "default"),
        ("after", Decimal(10), "premium"),
    ]
    assert state.accounts[("ten_1", "vip")].credit_limit == 100
    assert out.customers == [update]
