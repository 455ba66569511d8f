"""Chat socket frames: what a client may send, what it is refused with, and the server's shapes."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest

from pipeline.chat import frames as chat_frames
from pipeline.chat.frames import FrameError, Hello, Ping, Pong, Send, parse
from pipeline.records import ChatMessageRecorded

CONVERSATION = "cnv_" + "a" * 32


def refused(raw: str | bytes, code: str = "invalid_frame") -> str:
    with pytest.raises(FrameError) as info:
        parse(raw)
    assert info.value.code == code, info.value.message
    return info.value.message


def test_the_four_client_frames() -> None:
    assert parse('{"type": "hello"}') == Hello()
    assert parse(orjson.dumps({"type": "hello", "conversation_id": CONVERSATION, "last_seq": 7})) == Hello(
        CONVERSATION, 7
    )
    assert parse('{"type": "send", "client_message_id": "m1", "text": "hi"}') == Send("m1", "hi")
    assert parse('{"type": "ping"}') == Ping()
    assert parse('{"type": "pong"}') == Pong()


@pytest.mark.parametrize(
    "raw",
    [
        "not json",
        "[]",
        '"hello"',
        "{}",
        '{"type": "shout"}',
        '{"type": 1}',
        '{"type": "ping", "extra": 1}',
        '{"type": "hello", "conversation_id": "cnv_x"}',
        '{"type": "hello", "conversation_id": 5}',
        f'{{"type": "hello", "conversation_id": "{CONVERSATION}\\n"}}',  # a trailing newline
        f'{{"type": "hello", "conversation_id": "{CONVERSATION}", "last_seq": -1}}',
        f'{{"type": "hello", "conversation_id": "{CONVERSATION}", "last_seq": true}}',
        f'{{"type": "hello", "conversation_id": "{CONVERSATION}", "last_seq": 1.5}}',
        '{"type": "hello", "last_seq": 3}',
        '{"type": "send", "text": "hi"}',
        '{"type": "send", "client_message_id": "", "text": "hi"}',
        '{"type": "send", "client_message_id": 5, "text": "hi"}',
        '{"type": "send", "client_message_id": "m1", "text": "   "}',
        '{"type": "send", "client_message_id": "m1"}',
        '{"type": "send", "client_message_id": "m1", "text": ["hi"]}',
    ],
)
def test_invalid_frames_are_refused(raw: str) -> None:
    refused(raw)


def test_a_client_message_id_holds_at_most_100_characters() -> None:
    assert parse(
        orjson.dumps({"type": "send", "client_message_id": "m" * 100, "text": "x"})
    ).client_message_id  # type: ignore[union-attr]
    refused(orjson.dumps({"type": "send", "client_message_id": "m" * 101, "text": "x"}))


def test_a_message_holds_at_most_4000_characters() -> None:
    assert parse(orjson.dumps({"type": "send", "client_message_id": "m", "text": "é" * 4000})) == Send(
        "m", "é" * 4000
    )
    message = refused(
        orjson.dumps({"type": "send", "client_message_id": "m", "text": "x" * 4001}), "message_too_long"
    )
    assert "4000" in message


def test_a_frame_holds_at_most_16_kib() -> None:
    big = orjson.dumps({"type": "ping"}) + b" " * (16 * 1024)
    refused(big, "message_too_long")
    refused(big.decode(), "message_too_long")


def test_nul_characters_are_dropped_from_text() -> None:
    assert parse(orjson.dumps({"type": "send", "client_message_id": "m", "text": "a\x00b"})) == Send(
        "m", "ab"
    )


def test_a_message_frame_has_only_the_fields_that_are_set() -> None:
    at = datetime(2026, 3, 1, tzinfo=UTC)
    user = ChatMessageRecorded(
        f"{CONVERSATION}:1",
        "ten_1",
        "agt_1",
        CONVERSATION,
        1,
        "user",
        "hi",
        "complete",
        at,
        client_message_id="m1",
    )
    assert chat_frames.message(user) == {
        "type": "message",
        "seq": 1,
        "role": "user",
        "text": "hi",
        "status": "complete",
        "created_at": at,
        "client_message_id": "m1",
    }
    calls = '[{"id": "c1", "type": "function", "function": {"name": "lookup", "arguments": "{}"}}]'
    reply = ChatMessageRecorded(
        f"{CONVERSATION}:2", "ten_1", "agt_1", CONVERSATION, 2, "assistant", "", "complete", at,
        reply_to=1, model="m", tool_calls=calls, input_tokens=3,
    )  # fmt: skip
    assert chat_frames.message(reply) == {
        "type": "message",
        "seq": 2,
        "role": "assistant",
        "text": "",
        "status": "complete",
        "created_at": at,
        "reply_to": 1,
        "model": "m",
        "tool_calls": ["lookup"],
    }


def test_server_frames() -> None:
    assert chat_frames.delta(3, "Hel") == {"type": "delta", "reply_to": 3, "text": "Hel"}
    assert chat_frames.error("busy", "wait") == {"type": "error", "code": "busy", "message": "wait"}
    assert chat_frames.error("rate_limited", "slow down", 6)["retry_after"] == 6
    assert chat_frames.ready(CONVERSATION, 4, {"agent_id": "agt_1"}) == {
        "type": "ready",
        "conversation_id": CONVERSATION,
        "last_seq": 4,
        "agent": {"agent_id": "agt_1"},
    }


def test_an_unknown_field_is_named_only_when_short_and_plain() -> None:
    with pytest.raises(FrameError) as short:
        parse('{"type": "ping", "extra": 1}')
    assert short.value.message == "ping frames have no field 'extra'; they hold: type"
    with pytest.raises(FrameError) as long:
        parse(orjson.dumps({"type": "ping", "x" * 10_000: 1, "y<script>": 2}))
    assert long.value.message == "ping frames have no such field (and 1 more); they hold: type"


def test_a_quoted_value_is_printable_and_bounded() -> None:
    assert chat_frames.shown("https://shop.example.com") == "https://shop.example.com"
    assert chat_frames.shown("a\nb\x00c") == "a?b?c"
    assert chat_frames.shown("x" * 10_000) == "x" * 97 + "..."
    assert chat_frames.shown(None) == ""
