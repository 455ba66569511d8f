"""One row per call (`calls`), folded from its `CallEventRecorded` facts in any order, any number of times.

Every field is a commutative choice, so the row never depends on the order the facts arrived in: the
earliest time (`started_at`, `answered_at`, `ended_at`), the first non-null value (numbers, customer,
conversation), the furthest state (`calls.advances`), the strongest end reason (`calls.stronger`; of two
details backing it, the one that says something, else the first by name) and the duration from the best
source (`best_duration`). What the row's change asks of its caller (a status
webhook, the call's `voice.minutes`) is `Reaction`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime

from pipeline.records import CallEventRecorded, UsageCorrected, UsageRecorded
from pipeline.voice import calls

# Where a duration comes from, best first: Twilio's CallDuration on `completed` is what Twilio bills;
# the relay's own measure when the gateway ended the call; Twilio's SessionDuration (the relay session
# only); the relay's measure when the socket closed under it.
DURATION_SOURCES = (calls.STATE, calls.ENDED, calls.SESSION_ENDED, calls.RELAY_CLOSED)
# Facts that say the call is over (with a terminal `state`).
ENDING_KINDS = frozenset({calls.ENDED, calls.SESSION_ENDED, calls.RELAY_CLOSED})
# End reasons of a call that did not go as meant: a `call.failed` webhook instead of `call.ended`.
FAILURES = calls.FAILURES

STARTED = "call.started"
ENDED = "call.ended"
FAILED = "call.failed"
MINUTES = "voice.minutes"


@dataclass(frozen=True, slots=True)
class CallSummary:
    """A call as the `calls` table holds it."""

    tenant_id: str
    call_sid: str
    agent_id: str
    started_at: datetime
    conversation_id: str | None = None
    from_number: str | None = None
    to_number: str | None = None
    customer: str | None = None
    state: str | None = None
    state_at: datetime | None = None
    answered_at: datetime | None = None
    ended_at: datetime | None = None
    duration_seconds: int | None = None
    end_reason: str | None = None
    end_detail: str | None = None

    @property
    def started(self) -> bool:
        """The call was answered: the relay connected, or Twilio said it is in progress."""
        return self.answered_at is not None or self.state == calls.IN_PROGRESS

    @property
    def ended(self) -> bool:
        return self.ended_at is not None

    @property
    def billable(self) -> bool:
        """Over, with a duration and a customer to charge its minutes to."""
        return self.ended and self.duration_seconds is not None and bool(self.customer)

    @property
    def failed(self) -> bool:
        return self.end_reason in FAILURES


def _earliest(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None or b is None:
        return a or b
    return min(a, b)


def _ends(e: CallEventRecorded) -> bool:
    return e.kind in ENDING_KINDS or (e.kind == calls.STATE and e.state in calls.TERMINAL)


def fold(current: CallSummary | None, e: CallEventRecorded) -> CallSummary:
    """The call with one more fact (its duration aside: `best_duration` needs every fact that has one)."""
    s = current or CallSummary(e.tenant_id, e.call_sid, e.agent_id, e.occurred_at)
    s = replace(
        s,
        started_at=min(s.started_at, e.occurred_at),
        conversation_id=s.conversation_id or e.conversation_id,
        from_number=s.from_number or e.from_number,
        to_number=s.to_number or e.to_number,
        customer=s.customer or e.customer,
    )
    if e.kind == calls.STATE and e.state is not None and calls.advances(s.state, e.state):
        s = replace(s, state=e.state, state_at=e.occurred_at)
    if e.kind == calls.CONNECTED:
        s = replace(s, answered_at=_earliest(s.answered_at, e.occurred_at))
    if _ends(e):
        s = replace(s, ended_at=_earliest(s.ended_at, e.occurred_at))
    reason = calls.end_reason_of(e.kind, state=e.state, detail=e.detail, end_reason=e.end_reason)
    if calls.stronger(s.end_reason, reason):
        s = replace(s, end_reason=reason, end_detail=e.detail)
    elif reason is not None and reason == s.end_reason:
        s = replace(s, end_detail=_either(s.end_detail, e.detail))
    return s


def _either(a: str | None, b: str | None) -> str | None:
    """Of two details backing one end reason: one that says something, the first by name of two."""
    if a is None or b is None:
        return a or b
    return min(a, b)


def best_duration(facts: Iterable[tuple[str, str | None, int | None]]) -> int | None:
    """The call's duration from its facts' (kind, state, duration_seconds): the best source's
    (`DURATION_SOURCES`; a `state` counts only when `completed`), the longest of equals."""
    best: tuple[int, int] | None = None
    for kind, state, seconds in facts:
        if seconds is None or kind not in DURATION_SOURCES:
            continue
        if kind == calls.STATE and state != calls.COMPLETED:
            continue
        candidate = (-DURATION_SOURCES.index(kind), seconds)
        best = candidate if best is None else max(best, candidate)
    return None if best is None else best[1]


@dataclass(frozen=True, slots=True)
class Reaction:
    """What one batch changed in a call that its caller reacts to: the call's first start (`started`,
    at `started_at`), its first end (`ended`), and the moment it first became `billable`."""

    call: CallSummary
    started: bool = False
    started_at: datetime | None = None
    ended: bool = False
    billable: bool = False
    rebilled: bool = False  # already billed, and a better source changed its minutes

    @property
    def status_events(self) -> list[tuple[str, datetime]]:
        """The status webhooks' (type, time) this change calls for."""
        out: list[tuple[str, datetime]] = []
        if self.started and self.started_at is not None:
            out.append((STARTED, self.started_at))
        if self.ended and self.call.ended_at is not None:
            out.append((FAILED if self.call.failed else ENDED, self.call.ended_at))
        return out


def reaction(before: CallSummary | None, after: CallSummary, started_at: datetime | None) -> Reaction:
    """Compare a call before and after a batch; `started_at` is when the batch's first fact that the
    call was answered happened (None: the batch had none)."""
    return Reaction(
        call=after,
        started=started_at is not None and not (before is not None and before.started),
        started_at=started_at,
        ended=after.ended and not (before is not None and before.ended),
        billable=after.billable and not (before is not None and before.billable),
        rebilled=(
            before is not None
            and before.billable
            and after.billable
            and calls.minutes(before.duration_seconds or 0) != calls.minutes(after.duration_seconds or 0)
        ),
    )


def answers(e: CallEventRecorded) -> bool:
    """The fact says the call was answered."""
    return e.kind == calls.CONNECTED or (e.kind == calls.STATE and e.state == calls.IN_PROGRESS)


def voice_minutes(call: CallSummary) -> UsageRecorded:
    """A billable call's minutes as a usage event of its customer, id `voice.minutes:<call_sid>`: derived
    again (a redelivery, a rebuild), it is the same event, which billing charges once."""
    assert call.billable and call.customer and call.duration_seconds is not None
    return UsageRecorded(
        event_id=f"{MINUTES}:{call.call_sid}",
        tenant_id=call.tenant_id,
        customer=call.customer,
        type=MINUTES,
        timestamp=call.started_at,
        quantity=calls.minutes(call.duration_seconds),
        properties={"agent_id": call.agent_id, "call_sid": call.call_sid},
        received_at=call.ended_at,
    )


def voice_minutes_amended(call: CallSummary, now: datetime) -> UsageCorrected:
    """A billed call's minutes again, from a better duration (Twilio's CallDuration after the relay's own
    measure): an amend of `voice.minutes:<call_sid>` whose id names the duration, so a redelivery is the
    same correction; amends set the quantity, so the last (the best source) is what the customer pays."""
    assert call.billable and call.customer and call.duration_seconds is not None
    return UsageCorrected(
        event_id=f"{MINUTES}:{call.call_sid}:{call.duration_seconds}s",
        tenant_id=call.tenant_id,
        customer=call.customer,
        target_event_id=f"{MINUTES}:{call.call_sid}",
        action="amend",
        quantity=calls.minutes(call.duration_seconds),
        properties=None,
        reason="the call's duration from a better source",
        actor="system:voice",
        occurred_at=now,
    )
