"""Realistic facts of one phone call, as the gateway records them, for the voice fold's tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from pipeline.assistants import model as assistants
from pipeline.assistants import tool_secrets
from pipeline.assistants.tool_secrets import SecretBox
from pipeline.records import AssistantChanged, CallEventRecorded
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
    call_sid: str, *, customer: str | None = "c1", tenant: str = "t1", agent: str = "a1"
) -> list[CallEventRecorded]:
    """A call the agent ended: ringing, connected, in progress, an interruption, a digit, the agent's end,
    the relay session's end and Twilio's `completed` with its CallDuration (which wins)."""
    who = {"from_number": CALLER, "to_number": LINE, "customer": customer}

    def at(kind: str, seconds: float, *identity: object, **fields: Any) -> CallEventRecorded:
        return fact(call_sid, kind, seconds, *identity, tenant=tenant, agent=agent, **fields)

    return [
        at(calls.STATE, 0, calls.RINGING, state=calls.RINGING, **who),
        at(calls.CONNECTED, 1.5, "VX1", conversation_id=f"conv-{call_sid}", **who),
        at(calls.STATE, 1, calls.IN_PROGRESS, state=calls.IN_PROGRESS, **who),
        at(calls.INTERRUPTED, 20, 1, reply_to=2, heard="Our opening", heard_ms=900),
        at(calls.DTMF, 30, 2, detail="5"),
        at(calls.ENDED, 90, end_reason=calls.AGENT_ENDED, duration_seconds=88),
        at(calls.SESSION_ENDED, 91, "VX1", detail="completed", duration_seconds=89),
        at(calls.STATE, 92, calls.COMPLETED, state=calls.COMPLETED, duration_seconds=91, **who),
    ]


def dropped_call(
    call_sid: str, *, customer: str | None = "c1", tenant: str = "t1", agent: str = "a1"
) -> list[CallEventRecorded]:
    """A call whose relay socket closed under it, Twilio's session failing, then `completed`."""
    who = {"from_number": CALLER, "to_number": LINE, "customer": customer}

    def at(kind: str, seconds: float, *identity: object, **fields: Any) -> CallEventRecorded:
        return fact(call_sid, kind, seconds, *identity, tenant=tenant, agent=agent, **fields)

    return [
        at(calls.STATE, 0, calls.RINGING, state=calls.RINGING, **who),
        at(calls.CONNECTED, 1, "VX2", conversation_id=f"conv-{call_sid}", **who),
        at(calls.RELAY_CLOSED, 40, duration_seconds=39),
        at(calls.SESSION_ENDED, 41, "VX2", detail="failed", duration_seconds=40),
        at(calls.STATE, 42, calls.COMPLETED, state=calls.COMPLETED, duration_seconds=42, **who),
    ]


def voice_agent(
    box: SecretBox, *, tenant: str = "t1", agent: str = "a1", webhook_url: str | None = None
) -> tuple[AssistantChanged, str | None]:
    """An agent with a phone line (and a status webhook at `webhook_url`), sealed as the gateway publishes
    it, and its webhook's signing secret in the clear."""
    line: dict[str, Any] = {"phone_number": LINE}
    if webhook_url is not None:
        line["status_webhook_url"] = webhook_url
    body = {"name": "Front desk", "customer": "c1", "voice": line}
    created = assistants.create(body, tenant_id=tenant, agent_id=agent, actor="key:k", now=T0)
    assert created.voice is not None
    return tool_secrets.sealed(box, created), created.voice.status_webhook_secret
