"""A call's row folds the same from its facts in any order, any number of times; what its changes ask for."""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

from call_facts import T0, answered_call, dropped_call

from pipeline.records import CallEventRecorded
from pipeline.voice import calls
from pipeline.voice.summary import (
    ENDED,
    FAILED,
    STARTED,
    CallSummary,
    best_duration,
    fold,
    reaction,
    voice_minutes,
    voice_minutes_amended,
)


def summary(events: Iterable[CallEventRecorded]) -> CallSummary:
    """What the writer stores: the fold, with the duration from every fact that has one."""
    s: CallSummary | None = None
    seen: list[CallEventRecorded] = []
    for e in events:
        s = fold(s, e)
        seen.append(e)
    assert s is not None
    facts = [(e.kind, e.state, e.duration_seconds) for e in seen]
    return replace(s, duration_seconds=best_duration(facts))


def test_an_answered_call_folds_to_one_row_in_every_order() -> None:
    events = answered_call("CA1")
    expected = summary(events)
    assert expected == CallSummary(
        tenant_id="t1", call_sid="CA1", agent_id="a1", started_at=T0, conversation_id="conv-CA1",
        from_number="+14155550111", to_number="+14155550100", customer="c1", state=calls.COMPLETED,
        state_at=T0 + timedelta(seconds=92), answered_at=T0 + timedelta(seconds=1.5),
        ended_at=T0 + timedelta(seconds=90), duration_seconds=91, end_reason=calls.AGENT_ENDED, end_detail=None,
    )  # fmt: skip
    rng = random.Random(1)
    orders = [list(reversed(events)), *(rng.sample(events, len(events)) for _ in range(3000))]
    for order in orders:  # of the 40320 orders, a seeded sample (the whole takes seconds)
        assert summary(order) == expected


def test_duplicates_change_nothing() -> None:
    events = dropped_call("CA2")
    expected = summary(events)
    rng = random.Random(7)
    for _ in range(200):
        shuffled = [*events, *rng.choices(events, k=4)]
        rng.shuffle(shuffled)
        assert summary(shuffled) == expected
    assert (expected.end_reason, expected.duration_seconds) == (calls.DROPPED, 42)


def test_the_duration_comes_from_the_best_source() -> None:
    completed = (calls.STATE, calls.COMPLETED, 91)
    ended = (calls.ENDED, None, 88)
    session = (calls.SESSION_ENDED, None, 89)
    closed = (calls.RELAY_CLOSED, None, 95)
    assert best_duration([closed, session, ended, completed]) == 91
    assert best_duration([closed, session, ended]) == 88
    assert best_duration([closed, session]) == 89
    assert best_duration([closed]) == 95
    assert best_duration([(calls.STATE, calls.IN_PROGRESS, 5), (calls.DTMF, None, 7)]) is None
    assert best_duration([(calls.ENDED, None, 10), (calls.ENDED, None, 12)]) == 12  # equals: the longest


def test_a_call_starts_ends_and_becomes_billable_once() -> None:
    ringing, connected, in_progress, _, _, ended, _, completed = answered_call("CA3")
    s0 = fold(None, ringing)
    s1 = fold(fold(s0, connected), in_progress)
    started = reaction(s0, s1, connected.occurred_at)
    assert started.started and not started.ended and not started.billable
    assert started.status_events == [(STARTED, connected.occurred_at)]
    assert not reaction(s1, fold(s1, in_progress), in_progress.occurred_at).started  # already started

    s2 = replace(fold(s1, ended), duration_seconds=88)
    over = reaction(s1, s2, None)
    assert over.ended and over.billable and over.status_events == [(ENDED, ended.occurred_at)]
    assert not reaction(s2, fold(s2, completed), None).ended  # the first end only


def test_a_dropped_call_fails() -> None:
    events = dropped_call("CA4")
    r = reaction(None, summary(events), events[1].occurred_at)
    assert [t for t, _ in r.status_events] == [STARTED, FAILED]
    for state in ("busy", "no-answer", "failed", "canceled"):
        ringing, *_, completed = answered_call("CA5")
        unanswered = fold(fold(None, ringing), replace(completed, state=state, duration_seconds=None))
        assert [t for t, _ in reaction(None, unanswered, None).status_events] == [FAILED]


def test_a_call_without_a_customer_or_a_duration_is_not_billed() -> None:
    assert not summary(answered_call("CA6", customer=None)).billable
    no_duration = fold(None, answered_call("CA7")[5])  # the agent ended it, no duration known yet
    assert no_duration.ended and not no_duration.billable


def test_voice_minutes_are_one_exact_usage_event_per_call() -> None:
    usage = voice_minutes(summary(answered_call("CA8")))
    assert usage.event_id == "voice.minutes:CA8" and usage.type == "voice.minutes"
    assert usage.quantity == Decimal("1.517") and isinstance(usage.quantity, Decimal)  # 91 s, rounded up
    assert (usage.customer, usage.timestamp) == ("c1", T0)
    assert usage.properties == {"agent_id": "a1", "call_sid": "CA8"}


def test_a_better_duration_learned_later_amends_the_minutes_billed() -> None:
    ringing, connected, in_progress, _, _, ended, _, completed = answered_call("CA9")
    s1 = fold(fold(fold(None, ringing), connected), in_progress)
    billed = replace(fold(s1, ended), duration_seconds=88)  # the relay's own measure came first
    assert reaction(s1, billed, None).billable
    better = replace(fold(billed, completed), duration_seconds=91)  # then Twilio's CallDuration
    r = reaction(billed, better, None)
    assert r.rebilled and not r.billable
    amend = voice_minutes_amended(r.call, T0)
    assert (amend.action, amend.target_event_id, amend.quantity) == (
        "amend",
        "voice.minutes:CA9",
        Decimal("1.517"),
    )
    assert amend.event_id == "voice.minutes:CA9:91s"  # derived again, the same correction
    assert not reaction(better, replace(better), None).rebilled  # nothing changed: nothing to amend
