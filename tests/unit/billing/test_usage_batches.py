"""Usage batches in the billing fold: one record holding many events charges exactly as those events would
one record each, and each event is deduplicated and refused on its own."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from billing.test_fold import T0, granted, logs, published, run, usage
from pipeline.billing.fold import fold
from pipeline.billing.needs import accounts_needed, flat, usage_ids
from pipeline.billing.state import PartitionState
from pipeline.records import Record, UsageBatch, UsageRecorded


def batch(*events: UsageRecorded, batch_id: str = "req_1:0") -> UsageBatch:
    return UsageBatch(batch_id, events[0].tenant_id, events, events[0].received_at)


def test_a_batch_charges_each_of_its_events() -> None:
    state, out = run(published(1), granted("g1", "100"), batch(usage("e1"), usage("e2", quantity="3")))
    assert [(c.event_id, c.credits, c.offset) for c in out.charges] == [
        ("e1", Decimal("2"), 2),
        ("e2", Decimal("6"), 2),
    ]
    assert out.rejections == []
    assert state.accounts[("ten_1", "cus_1")].balance(T0) == Decimal("92")


def test_a_duplicate_inside_one_batch_is_charged_once() -> None:
    state, out = run(published(1), granted("g1", "100"), batch(usage("e1"), usage("e2"), usage("e1")))
    assert [c.event_id for c in out.charges] == ["e1", "e2"]
    assert out.rejections == []
    assert state.accounts[("ten_1", "cus_1")].balance(T0) == Decimal("96")


def test_a_duplicate_across_two_batches_and_a_single_record_is_charged_once() -> None:
    state, out = run(
        published(1),
        granted("g1", "100"),
        batch(usage("e1"), usage("e2")),
        batch(usage("e2"), usage("e3"), batch_id="req_2:0"),
        usage("e3"),
    )
    assert [c.event_id for c in out.charges] == ["e1", "e2", "e3"]
    assert state.accounts[("ten_1", "cus_1")].balance(T0) == Decimal("94")
    _, again = run(batch(usage("e1"), usage("e3")), state=state)  # the whole batch redelivered
    assert again.charges == [] and again.rejections == []


def test_a_refused_event_of_a_batch_is_named_by_its_place_and_the_others_are_charged() -> None:
    _, out = run(
        published(1),
        usage("e0", customer="cus_2"),
        batch(usage("e1"), usage("e2", type_="unpriced.type"), usage("e0"), usage("e3")),
    )
    assert [c.event_id for c in out.charges] == ["e0", "e1", "e3"]
    assert [(r.code, r.offset, r.part, r.event_id) for r in out.rejections] == [
        ("unpriced", 2, 1, "e2"),
        ("duplicate_id_conflict", 2, 2, "e0"),
    ]


def test_a_whole_record_refused_has_no_part() -> None:
    _, out = run(usage("e1"))
    assert [(r.code, r.part) for r in out.rejections] == [("unpriced", None)]


def test_what_a_batch_needs_loaded_is_what_its_events_need() -> None:
    records: list[Record] = [batch(usage("e1"), usage("e2", customer="cus_2")), usage("e3", tenant="ten_2")]
    opened = flat(records)
    assert accounts_needed(opened) == {("ten_1", "cus_1"), ("ten_1", "cus_2"), ("ten_2", "cus_1")}
    assert usage_ids(opened) == {("ten_1", "e1"), ("ten_1", "e2"), ("ten_2", "e3")}


def packed(records: list[Record], cuts: set[int]) -> list[Record]:
    """The log with runs of one tenant's consecutive usage packed into batches, cut at `cuts`."""
    out: list[Record] = []
    run_: list[UsageRecorded] = []

    def close() -> None:
        if run_:
            out.append(batch(*run_) if len(run_) > 1 else run_[0])
            run_.clear()

    for i, r in enumerate(records):
        if isinstance(r, UsageRecorded) and not (run_ and (r.tenant_id != run_[0].tenant_id or i in cuts)):
            run_.append(r)
            continue
        close()
        if isinstance(r, UsageRecorded):
            run_.append(r)
        else:
            out.append(r)
    close()
    return out


@settings(max_examples=200)
@given(logs, st.sets(st.integers(0, 60), max_size=8))
def test_a_log_packed_into_batches_charges_as_the_same_log_one_event_per_record(
    records: list[Record], cuts: set[int]
) -> None:
    single_state, single = fold(PartitionState(), list(enumerate(records)))
    batched_state, batched = fold(PartitionState(), list(enumerate(packed(records, cuts))))
    assert [replace(c, offset=0) for c in batched.charges] == [replace(c, offset=0) for c in single.charges]
    assert [(r.code, r.tenant_id, r.event_id) for r in batched.rejections] == [
        (r.code, r.tenant_id, r.event_id) for r in single.rejections
    ]
    assert batched_state.accounts == single_state.accounts
    assert batched_state.charged == single_state.charged
