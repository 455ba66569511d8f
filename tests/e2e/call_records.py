"""Phone calls published straight to the broker, as the gateway records them: the facts of tests/call_facts.py
on revos.voice, and a call's spoken turns on revos.chat, for the dashboard's call pages without a telephone
in the loop."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from call_facts import T0
from e2e_stack import Stack

from infra.kafka import KafkaPublisher
from pipeline.codec import default_codec
from pipeline.publishing import Outgoing
from pipeline.records import CallEventRecorded, ChatMessageRecorded
from pipeline.topics import CHAT, VOICE, call_key, conversation_key

# What was said on call_facts.answered_call: the caller spoke over the reply to seq 2 after "Our opening".
SPOKEN = (
    ("assistant", "Hello! How can I help?", None),
    ("user", "When are you open?", None),
    ("assistant", "Our opening hours are nine to five, Monday to Friday.", 2),
    ("user", "Where is my order?", None),
    ("assistant", "It left our warehouse this morning.", 4),
)


def _reply(seq: int) -> dict[str, Any]:
    return {"model": "demo", "first_token_ms": 400 + seq, "input_tokens": 30, "output_tokens": 9}


def turns(tenant_id: str, agent_id: str, call_sid: str) -> list[ChatMessageRecorded]:
    """The turns of call_facts.answered_call's conversation, a few seconds apart from its start."""
    conversation_id = f"conv-{call_sid}"
    return [
        ChatMessageRecorded(
            message_id=f"{conversation_id}:{seq}",
            tenant_id=tenant_id,
            agent_id=agent_id,
            conversation_id=conversation_id,
            seq=seq,
            role=role,
            content=content,
            status="complete",
            occurred_at=T0 + timedelta(seconds=2 + 3 * seq),
            reply_to=reply_to,
            visitor_id=f"call:{call_sid}",
            **(_reply(seq) if role == "assistant" and reply_to else {}),
        )
        for seq, (role, content, reply_to) in enumerate(SPOKEN, start=1)
    ]


async def publish(
    stack: Stack, facts: Sequence[CallEventRecorded], spoken: Sequence[ChatMessageRecorded] = ()
) -> None:
    """Calls' facts and turns, on the topics and keys the gateway writes them to."""
    codec = default_codec()
    publisher = KafkaPublisher(stack.settings.bootstrap_servers)
    await publisher.start()
    try:
        await publisher.publish(
            [
                Outgoing(CHAT, codec.encode(t), key=conversation_key(t.tenant_id, t.conversation_id))
                for t in spoken
            ]
            + [Outgoing(VOICE, codec.encode(f), key=call_key(f.tenant_id, f.call_sid)) for f in facts]
        )
    finally:
        await publisher.stop()
