"""A phone call's state and why it ended, folded from its `CallEventRecorded` facts in any order.

Twilio retries webhooks and may deliver them twice or out of order, so nothing here depends on order:
the state only moves forward (a later rank wins, and the first terminal state stays), and the end
reason is the one backed by the strongest evidence seen so far (a lower priority number wins).
"""

from __future__ import annotations

import hashlib
from decimal import ROUND_UP, Decimal

# Twilio's call statuses, by how far a call has got; every terminal status has the same rank.
QUEUED = "queued"
RINGING = "ringing"
IN_PROGRESS = "in-progress"
COMPLETED = "completed"
BUSY = "busy"
NO_ANSWER = "no-answer"
FAILED = "failed"
CANCELED = "canceled"
TERMINAL = frozenset({COMPLETED, BUSY, NO_ANSWER, FAILED, CANCELED})
STATES = (QUEUED, RINGING, IN_PROGRESS, *sorted(TERMINAL))
RANK = {QUEUED: 0, RINGING: 1, IN_PROGRESS: 2, **{s: 3 for s in TERMINAL}}

# Event kinds (the schema's CallEventKind).
STATE = "state"
CONNECTED = "connected"
INTERRUPTED = "interrupted"
DTMF = "dtmf"
ENDED = "ended"
SESSION_ENDED = "session_ended"
RELAY_CLOSED = "relay_closed"
ERROR = "error"

# End reasons. The agent's own reasons are certain; Twilio's failure statuses next; then the relay
# session's end as Twilio reports it; a socket closing without an end says only "dropped" unless
# something better arrives; a `completed` status alone says least.
AGENT_ENDED = "agent_ended"  # the agent finished the call (its end_call tool)
MAX_DURATION = "max_duration"  # max_call_seconds reached
SILENCE = "silence"  # the caller said nothing after one reprompt
PROVIDER_DOWN = "provider_down"  # the model failed: the caller heard an apology
OUT_OF_CREDITS = "out_of_credits"  # the agent's customer may not spend: refused before connecting
AGENT_UNAVAILABLE = "agent_unavailable"  # the number's agent is deleted or the tenant has no Twilio account
CALLER_HANGUP = "caller_hangup"
DROPPED = "dropped"  # the relay socket closed (or Twilio's session failed) without the agent ending it
END_PRIORITY = {
    AGENT_ENDED: 0,
    MAX_DURATION: 0,
    SILENCE: 0,
    PROVIDER_DOWN: 0,
    OUT_OF_CREDITS: 0,
    AGENT_UNAVAILABLE: 0,
    BUSY: 1,
    "no_answer": 1,
    FAILED: 1,
    CANCELED: 1,
    CALLER_HANGUP: 2,
    DROPPED: 3,
    COMPLETED: 4,
}
END_REASONS = tuple(END_PRIORITY)
# Counted as dropped in the call drop rate: the call ended without the caller or the agent meaning it to.
DROPS = frozenset({DROPPED, PROVIDER_DOWN, FAILED})
# Failed calls: dropped, or never got to talk with the agent (the `failed=true` listing, `call.failed`).
FAILURES = DROPS | {BUSY, "no_answer", CANCELED, OUT_OF_CREDITS, AGENT_UNAVAILABLE}
# Twilio's ConversationRelay session statuses, as its action URL reports them.
SESSION_BY_CALLER = frozenset({"ended", "completed"})


def advances(current: str | None, new: str) -> bool:
    """True when a call in state `current` (None: no state yet) moves to `new`."""
    return current is None or RANK.get(new, -1) > RANK.get(current, -1)


def end_reason_of(
    kind: str, *, state: str | None = None, detail: str | None = None, end_reason: str | None = None
) -> str | None:
    """The end reason one fact is evidence of, or None."""
    if kind == ENDED:
        return end_reason
    if kind == STATE and state in TERMINAL:
        return state.replace("-", "_")  # "no-answer" is the reason "no_answer"
    if kind == RELAY_CLOSED:
        return DROPPED
    if kind == SESSION_ENDED:
        return CALLER_HANGUP if (detail or "").lower() in SESSION_BY_CALLER else DROPPED
    return None


def stronger(current: str | None, new: str | None) -> bool:
    """True when end reason `new` is better evidence than `current` (equal evidence: the first by name,
    so that the reason never depends on the order the facts arrived in)."""
    if new is None:
        return False
    if current is None:
        return True
    return (END_PRIORITY.get(new, 9), new) < (END_PRIORITY.get(current, 9), current)


def event_id(call_sid: str, *parts: object) -> str:
    """A fact's id from the call and what makes the fact itself: the same webhook twice is one event."""
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).hexdigest()[:24]
    return f"call:{call_sid}:{digest}"


def minutes(duration_seconds: int) -> Decimal:
    """A call's billed quantity of `voice.minutes`: its duration in minutes, up to the next 1/1000."""
    return (Decimal(max(0, duration_seconds)) / Decimal(60)).quantize(Decimal("0.001"), rounding=ROUND_UP)


def drop_rate(endings: dict[str, int]) -> float | None:
    """The share of ended calls that dropped (`DROPS`), from the count of calls per end reason; None
    before any call ended."""
    ended = sum(endings.values())
    if not ended:
        return None
    return sum(n for reason, n in endings.items() if reason in DROPS) / ended
