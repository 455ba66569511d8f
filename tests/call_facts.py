"""Realistic facts of one phone call, as the gateway records them, for the voice fold's tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from pipeline.records import CallEventRecorded
from pipeline.voice import calls

T0 = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
CALLER = "+14155550111"
LINE = "+14155550100"


def fact(
    call_sid: str,
    kind: str,
    seconds: float,
    *identity: object,
    tenant: str = "t1",
    agent: str = "a1",
    **fields: Any,
) -> CallEventRecorded:
    """A fact `seconds` after T0; its id made as the gateway makes it (the call, the kind, `identity`)."""
    return CallEventRecorded(
        event_id=calls.event_id(call_sid, kind, *identity),
        tenant_id=tenant,
        agent_id=agent,
        call_sid=call_sid,
        kind=kind,
        occurred_at=T0 + timedelta(seconds=seconds),
        **fields,
    )


def answered_call(
    call_sid: str, *, customer: str | None = "c1", tenant: str = "t1"
) -> list[CallEventRecorded]:
    """A call the agent ended: ringing, connected, in progress, an interruption, a digit, the agent's end,
    the relay session's end and Twilio's `completed` with its CallDuration (which wins)."""
    who = {"from_number": CALLER, "to_number": LINE, "customer": customer}
    return [
        fact(call_sid, calls.STATE, 0, calls.RINGING, tenant=tenant, state=calls.RINGING, **who),
        fact(call_sid, calls.CONNECTED, 1.5, "VX1", tenant=tenant, conversation_id=f"conv-{call_sid}", **who),
        fact(call_sid, calls.STATE, 1, calls.IN_PROGRESS, tenant=tenant, state=calls.IN_PROGRESS, **who),
        fact(call_sid, calls.INTERRUPTED, 20, 1, tenant=tenant, reply_to=2, heard="Our opening", heard_ms=900),
        fact(call_sid, calls.DTMF, 30, 2, tenant=tenant, detail="5"),
        fact(call_sid, calls.ENDED, 90, tenant=tenant, end_reason=calls.AGENT_ENDED, duration_seconds=88),
        fact(call_sid, calls.SESSION_ENDED, 91, "VX1", tenant=tenant, detail="completed", duration_seconds=89),
        fact(
            call_sid, calls.STATE, 92, calls.COMPLETED, tenant=tenant, state=calls.COMPLETED, duration_seconds=91,
            **who,
        ),
    ]  # fmt: skip


def dropped_call(call_sid: str, *, customer: str | None = "c1") -> list[CallEventRecorded]:
    """A call whose relay socket closed under it, Twilio's session failing, then `completed`."""
    who = {"from_number": CALLER, "to_number": LINE, "customer": customer}
    return [
        fact(call_sid, calls.STATE, 0, calls.RINGING, state=calls.RINGING, **who),
        fact(call_sid, calls.CONNECTED, 1, "VX2", conversation_id=f"conv-{call_sid}", **who),
        fact(call_sid, calls.RELAY_CLOSED, 40, duration_seconds=39),
        fact(call_sid, calls.SESSION_ENDED, 41, "VX2", detail="failed", duration_seconds=40),
        fact(call_sid, calls.STATE, 42, calls.COMPLETED, state=calls.COMPLETED, duration_seconds=42, **who),
    ]
