"""A call's state and end reason fold the same whatever order Twilio's facts arrive in."""

from __future__ import annotations

import itertools
from decimal import Decimal

import pytest

from pipeline.voice import calls


def fold(facts: list[tuple[str, dict[str, str | None]]]) -> tuple[str | None, str | None]:
    """The state and end reason `facts` leave, applied in the order given."""
    state: str | None = None
    reason: str | None = None
    for kind, fields in facts:
        new_state = fields.get("state")
        if kind == calls.STATE and new_state is not None and calls.advances(state, new_state):
            state = new_state
        evidence = calls.end_reason_of(kind, **fields)
        if calls.stronger(reason, evidence):
            reason = evidence
    return state, reason


HANG_UP = [
    (calls.STATE, {"state": "ringing"}),
    (calls.STATE, {"state": "in-progress"}),
    (calls.RELAY_CLOSED, {}),
    (calls.SESSION_ENDED, {"detail": "ended"}),
    (calls.STATE, {"state": "completed"}),
]


def test_the_state_only_moves_forward_and_the_first_terminal_state_stays() -> None:
    assert calls.advances(None, "queued")
    assert calls.advances("ringing", "in-progress") and not calls.advances("in-progress", "ringing")
    assert not calls.advances("completed", "in-progress")
    assert not calls.advances("completed", "failed")  # terminal states share a rank: the first stays
    assert not calls.advances("ringing", "made-up")


@pytest.mark.parametrize("order", list(itertools.permutations(range(len(HANG_UP)))))
def test_a_hang_up_folds_the_same_in_any_order(order: tuple[int, ...]) -> None:
    assert fold([HANG_UP[i] for i in order]) == ("completed", calls.CALLER_HANGUP)


def test_the_strongest_evidence_names_the_end() -> None:
    dropped = [
        (calls.STATE, {"state": "in-progress"}),
        (calls.RELAY_CLOSED, {}),
        (calls.STATE, {"state": "completed"}),
    ]
    assert fold(dropped) == ("completed", calls.DROPPED)  # completed alone says less than a closed socket
    silence = [*HANG_UP, (calls.ENDED, {"end_reason": calls.SILENCE})]
    assert fold(silence)[1] == calls.SILENCE and fold(list(reversed(silence)))[1] == calls.SILENCE
    failed_session = [(calls.SESSION_ENDED, {"detail": "failed"}), (calls.STATE, {"state": "completed"})]
    assert fold(failed_session)[1] == calls.DROPPED
    assert fold([(calls.STATE, {"state": "no-answer"})])[1] == "no_answer"
    assert calls.end_reason_of(calls.DTMF, detail="1") is None and not calls.stronger("busy", None)


def test_every_end_reason_has_a_priority_and_every_drop_is_a_reason() -> None:
    assert set(calls.END_PRIORITY) >= calls.DROPS
    reasons = {calls.end_reason_of(calls.STATE, state=s) for s in calls.TERMINAL}
    assert reasons <= set(calls.END_PRIORITY)


def test_an_event_id_is_the_call_and_the_fact() -> None:
    assert calls.event_id("CA1", "state", "ringing") == calls.event_id("CA1", "state", "ringing")
    assert calls.event_id("CA1", "state", "ringing") != calls.event_id("CA2", "state", "ringing")
    assert calls.event_id("CA1", "state", "ringing") != calls.event_id("CA1", "state", "completed")
    assert calls.event_id("CA1", "a", "bc") != calls.event_id("CA1", "ab", "c")


def test_minutes_are_exact_and_round_up_to_a_thousandth() -> None:
    assert calls.minutes(60) == Decimal("1.000")
    assert calls.minutes(61) == Decimal("1.017")
    assert calls.minutes(0) == Decimal("0.000") and calls.minutes(-5) == Decimal("0.000")
    assert isinstance(calls.minutes(7), Decimal)


def test_the_drop_rate_counts_drops_among_ended_calls() -> None:
    assert calls.drop_rate({}) is None
    assert calls.drop_rate({"caller_hangup": 3, "dropped": 1}) == 0.25
    assert calls.drop_rate({"provider_down": 1, "failed": 1, "silence": 2}) == 0.5
