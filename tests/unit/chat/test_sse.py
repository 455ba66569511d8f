"""The server-sent events decoder."""

from __future__ import annotations

from pipeline.chat.sse import ServerSentEvent, SSEDecoder


def decode(text: str) -> list[ServerSentEvent]:
    decoder = SSEDecoder()
    events = [event for line in text.split("\n") if (event := decoder.feed(line)) is not None]
    if (last := decoder.flush()) is not None:
        events.append(last)
    return events


def test_one_event_per_blank_line() -> None:
    assert decode('data: {"a": 1}\n\ndata: [DONE]\n\n') == [
        ServerSentEvent('{"a": 1}'),
        ServerSentEvent("[DONE]"),
    ]


def test_comment_lines_are_skipped() -> None:
    text = ": OPENROUTER PROCESSING\n\n: OPENROUTER PROCESSING\ndata: x\n\n"
    assert decode(text) == [ServerSentEvent("x")]


def test_multi_line_data_is_joined_with_newlines() -> None:
    assert decode("data: first\ndata:second\ndata:  third\n\n") == [ServerSentEvent("first\nsecond\n third")]


def test_event_and_id_fields_and_a_field_without_a_colon() -> None:
    events = decode("event: ping\nid: 42\ndata\ndata: x\n\ndata: y\n\n")
    assert events == [ServerSentEvent("\nx", event="ping", id="42"), ServerSentEvent("y", id="42")]


def test_blocks_without_data_dispatch_nothing() -> None:
    assert decode("event: ping\n\nretry: 1000\n\n\n\n") == []


def test_an_unterminated_last_event_is_flushed() -> None:
    assert decode("data: [DONE]") == [ServerSentEvent("[DONE]")]
