"""A phone call's listener says what a chat socket would be sent, as ConversationRelay messages."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson

from gateway.voice.speaker import Speaker, end
from pipeline.chat import frames
from pipeline.records import ChatMessageRecorded

NOW = datetime(2026, 12, 4, tzinfo=UTC)


def message(seq: int, role: str, status: str = "complete", **fields: Any) -> ChatMessageRecorded:
    return ChatMessageRecorded(
        f"cnv_1:{seq}", "ten_1", "agt_1", "cnv_1", seq, role, "text", status, NOW, **fields
    )


async def sent(speaker: Speaker) -> list[dict[str, Any]]:
    out = []
    while not speaker.outbox.empty():
        text = await speaker.next()
        assert text is not None
        out.append(orjson.loads(text))
    return out


async def test_a_reply_streams_as_tokens_and_ends_with_the_last_one() -> None:
    speaker = Speaker()
    speaker.push_message(message(1, "user"))
    assert speaker.last_prompt == 1 and not speaker.replied.is_set()
    speaker.push(frames.delta(1, "Hel"))
    speaker.push(frames.delta(1, "lo"))
    speaker.push(frames.error("unavailable", "widgets only"))  # nothing to say on a phone line
    speaker.push_message(message(2, "assistant", reply_to=1, model="m", tool_calls='[{"id": "t"}]'))
    speaker.push_message(message(3, "tool", reply_to=1))
    speaker.push_message(message(4, "assistant", reply_to=1, model="m"))
    assert await sent(speaker) == [
        {"type": "text", "token": "Hel", "last": False},
        {"type": "text", "token": "lo", "last": False},
        {"type": "text", "token": "", "last": True},  # only after the reply that asked for no tool
    ]
    assert speaker.replied.is_set() and speaker.failed is None


async def test_a_reply_no_model_gave_is_a_failure_not_words() -> None:
    speaker = Speaker()
    speaker.push_message(message(1, "user"))
    speaker.push_message(message(2, "assistant", "failed", reply_to=1))
    assert speaker.failed == "failed" and await sent(speaker) == []
    speaker.push_message(message(3, "user"))
    assert speaker.failed is None and speaker.last_prompt == 3


async def test_words_said_and_the_end() -> None:
    speaker = Speaker()
    speaker.push_message(message(1, "assistant"))  # a greeting: Twilio says it, not us
    speaker.say("Goodbye.")
    speaker.push(end("silence"))
    assert await sent(speaker) == [
        {"type": "text", "token": "Goodbye.", "last": True},
        {"type": "end", "handoffData": '{"reason":"silence"}'},
    ]
