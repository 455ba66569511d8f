"""Voice calls on `revos.voice` (keyed tenant:call) and the tenant's voice provider account on `revos.admin`.

A call's spoken turns are chat messages of the call's conversation on `revos.chat`; what only a phone
call has (state changes, interruptions, keypad digits, the end) is a `CallEventRecorded`."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import ClassVar


@dataclass(frozen=True, slots=True)
class CallEventRecorded:
    """Something that happened to one call; `event_id` makes a redelivered webhook the same fact.

    `kind` says which fields matter (pipeline/voice/calls.py): `state` (a Twilio call status), `connected`
    (the relay socket opened: `conversation_id`), `interrupted` (`reply_to`, `heard`, `heard_ms`),
    `dtmf` (`detail`: the digit), `ended` (`end_reason`, `detail`), `session_ended` (Twilio's
    ConversationRelay session ended: `detail` is its status, `duration_seconds`), `relay_closed` (the
    socket closed without the agent ending the call), `error` (`detail`: Twilio's description)."""

    SCHEMA: ClassVar[str] = "revos.CallEventRecorded"

    event_id: str
    tenant_id: str
    agent_id: str
    call_sid: str
    kind: str
    occurred_at: datetime
    state: str | None = None
    conversation_id: str | None = None
    from_number: str | None = None
    to_number: str | None = None
    duration_seconds: int | None = None
    end_reason: str | None = None
    detail: str | None = None
    reply_to: int | None = None
    heard: str | None = None
    heard_ms: int | None = None
    customer: str | None = None  # the agent's billing customer when the call came in


@dataclass(frozen=True, slots=True)
class VoiceProviderSet:
    """A tenant's Twilio account for voice: the auth token sealed by the gateway, never shown again."""

    SCHEMA: ClassVar[str] = "revos.VoiceProviderSet"

    event_id: str
    tenant_id: str
    provider: str  # "twilio"
    account_sid: str
    auth_token: str = field(repr=False)  # sealed (pipeline/assistants/tool_secrets.py)
    actor: str
    occurred_at: datetime
