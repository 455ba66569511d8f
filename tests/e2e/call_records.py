"""Phone calls as the gateway records them, published straight to the broker: what the dashboard's call
pages read once the worker has projected them (the facts of a call on revos.voice, its spoken turns on
revos.chat), without a telephone in the loop."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from e2e_stack import Stack

from infra.kafka import KafkaPublisher
from pipeline.codec import default_codec
from pipeline.publishing import Outgoing
from pipeline.records import CallEventRecorded, ChatMessageRecorded
from pipeline.topics import CHAT, VOICE, call_key, conversation_key
from pipeline.voice import calls

CALLER = "+14155550123"


@dataclass(frozen=True, slots=True)
class Call:
    """A call to publish: who to whom, when, and how it went."""

    tenant_id: str
    agent_id: str
    call_sid: str
    to_number: str
    started: datetime
    from_number: str = CALLER


def _fact(call: Call, kind: str, seconds: float, *parts: object, **fields: object) -> CallEventRecorded:
    return CallEventRecorded(
        event_id=calls.event_id(call.call_sid, kind, *parts),
        tenant_id=call.tenant_id,
        agent_id=call.agent_id,
        call_sid=call.call_sid,
        kind=kind,
        occurred_at=call.started + timedelta(seconds=seconds),
        **fields,  # type: ignore[arg-type]
    )


def _state(call: Call, state: str, seconds: float, **fields: object) -> CallEventRecorded:
    return _fact(
        call, calls.STATE, seconds, state, state=state, from_number=call.from_number,
        to_number=call.to_number, **fields,
    )  # fmt: skip


def _turn(call: Call, conversation_id: str, seq: int, seconds: float, role: str, content: str,
          **fields: object) -> ChatMessageRecorded:  # fmt: skip
    return ChatMessageRecorded(
        message_id=f"{conversation_id}:{seq}",
        tenant_id=call.tenant_id,
        agent_id=call.agent_id,
        conversation_id=conversation_id,
        seq=seq,
        role=role,
        content=content,
        status=str(fields.pop("status", "complete")),
        occurred_at=call.started + timedelta(seconds=seconds),
        visitor_id=f"call:{call.call_sid}",
        **fields,  # type: ignore[arg-type]
    )


def answered_call(call: Call) -> tuple[list[CallEventRecorded], list[ChatMessageRecorded]]:
    """A call the caller hung up after two questions, the second reply cut short, and a keypad digit."""
    conversation = f"conv_{call.call_sid.lower()}"
    facts = [
        _state(call, calls.RINGING, 0),
        _fact(call, calls.CONNECTED, 1, conversation_id=conversation),
        _fact(call, calls.INTERRUPTED, 9, 3, reply_to=3, heard="Our opening hours are", heard_ms=1400),
        _fact(call, calls.DTMF, 12, "5", detail="5"),
        _fact(call, calls.SESSION_ENDED, 20, "completed", detail="completed", duration_seconds=19),
        _state(call, calls.COMPLETED, 21, duration_seconds=21),
    ]
    turns = [
        _turn(call, conversation, 1, 2, "user", "Where is my order?"),
        _turn(
            call,
            conversation,
            2,
            3,
            "assistant",
            "It left our warehouse this morning.",
            reply_to=1,
            model="demo",
            first_token_ms=420,
            input_tokens=30,
            output_tokens=9,
        ),
        _turn(call, conversation, 3, 7, "user", "When are you open?"),
        _turn(
            call,
            conversation,
            4,
            8,
            "assistant",
            "Our opening hours are nine to five, Monday to Friday.",
            reply_to=3,
            model="demo",
            first_token_ms=380,
            input_tokens=45,
            output_tokens=12,
        ),
    ]
    return facts, turns


def dropped_call(call: Call) -> list[CallEventRecorded]:
    """A call whose relay socket closed without anyone ending it."""
    return [
        _state(call, calls.RINGING, 0),
        _fact(call, calls.CONNECTED, 1, conversation_id=f"conv_{call.call_sid.lower()}"),
        _fact(call, calls.RELAY_CLOSED, 4),
        _state(call, calls.COMPLETED, 5, duration_seconds=5),
    ]


def ringing_call(call: Call) -> list[CallEventRecorded]:
    return [_state(call, calls.RINGING, 0)]


async def publish(
    stack: Stack, facts: Sequence[CallEventRecorded], turns: Sequence[ChatMessageRecorded] = ()
) -> None:
    """A call's spoken turns and its facts, on the topics and keys the gateway writes them to."""
    codec = default_codec()
    publisher = KafkaPublisher(stack.settings.bootstrap_servers)
    await publisher.start()
    try:
        await publisher.publish(
            [
                Outgoing(CHAT, codec.encode(t), key=conversation_key(t.tenant_id, t.conversation_id))
                for t in turns
            ]
            + [Outgoing(VOICE, codec.encode(f), key=call_key(f.tenant_id, f.call_sid)) for f in facts]
        )
    finally:
        await publisher.stop()


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)
