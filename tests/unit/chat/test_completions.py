"""Folding streamed chat completion chunks: text, tool-call fragments, usage, in-band errors."""

from __future__ import annotations

from typing import Any

import pytest

from pipeline.chat.completions import (
    StreamFailure,
    StreamState,
    ToolCallDraft,
    apply_chunk,
    describe_error_body,
    estimate_input_tokens,
    estimate_tokens,
    parse_chunk,
)


def fold(*chunks: dict[str, Any]) -> tuple[StreamState, list[str]]:
    state, pieces = StreamState(), []
    for chunk in chunks:
        state, piece = apply_chunk(state, chunk)
        pieces.append(piece)
    return state, pieces


def delta(**fields: Any) -> dict[str, Any]:
    return {"choices": [{"index": 0, "delta": fields, "finish_reason": None}]}


def test_text_accumulates_and_the_role_chunk_does_not_start_the_reply() -> None:
    state, pieces = fold(delta(role="assistant", content=""))
    assert (state.started, pieces) == (False, [""])

    state, pieces = fold(
        delta(role="assistant", content=""), delta(content="Hel"), delta(content=None), delta(content="lo")
    )
    assert (state.text, state.started, pieces) == ("Hello", True, ["", "Hel", "", "lo"])


def test_finish_reason_and_the_usage_only_final_chunk() -> None:
    state, _ = fold(
        delta(content="Hi"),
        {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
        {"choices": [], "usage": {"prompt_tokens": 12, "completion_tokens": 1, "total_tokens": 13}},
    )
    assert (state.finish_reason, state.input_tokens, state.output_tokens) == ("stop", 12, 1)


def test_null_usage_is_ignored() -> None:
    state, _ = fold({"choices": [], "usage": None}, {"choices": [], "usage": {"prompt_tokens": True}})
    assert (state.input_tokens, state.output_tokens) == (None, None)


def test_tool_call_fragments_merge_by_index() -> None:
    state, pieces = fold(
        delta(
            tool_calls=[
                {
                    "index": 1,
                    "id": "call_b",
                    "type": "function",
                    "function": {"name": "stock", "arguments": ""},
                }
            ]
        ),
        delta(
            tool_calls=[{"index": 0, "id": "call_a", "function": {"name": "lookup", "arguments": '{"id"'}}]
        ),
        delta(tool_calls=[{"index": 0, "function": {"arguments": ": 1}"}}]),
        delta(tool_calls=[{"index": 1, "function": {"arguments": "{}"}}]),
    )
    assert pieces == ["", "", "", ""]
    assert state.started is True
    assert state.tool_calls == (
        ToolCallDraft(0, "call_a", "lookup", '{"id": 1}'),
        ToolCallDraft(1, "call_b", "stock", "{}"),
    )
    assert state.finished_tool_calls() == [
        {"id": "call_a", "type": "function", "function": {"name": "lookup", "arguments": '{"id": 1}'}},
        {"id": "call_b", "type": "function", "function": {"name": "stock", "arguments": "{}"}},
    ]


def test_a_tool_call_without_id_or_arguments_gets_defaults() -> None:
    state, _ = fold(delta(tool_calls=[{"function": {"name": "ping"}}]))
    assert state.finished_tool_calls() == [
        {"id": "call_0", "type": "function", "function": {"name": "ping", "arguments": "{}"}}
    ]


def test_parse_chunk_raises_on_an_in_band_error() -> None:
    with pytest.raises(StreamFailure) as raised:
        parse_chunk('{"error": {"message": "Provider returned error", "code": 502}, "choices": []}')
    assert (raised.value.message, raised.value.upstream_code, raised.value.code) == (
        "Provider returned error",
        "502",
        "upstream_error",
    )


def test_parse_chunk_raises_on_finish_reason_error_and_on_garbage() -> None:
    with pytest.raises(StreamFailure, match="finish_reason 'error'"):
        parse_chunk('{"choices": [{"index": 0, "delta": {}, "finish_reason": "error"}]}')
    with pytest.raises(StreamFailure, match="undecodable"):
        parse_chunk("{not json")
    with pytest.raises(StreamFailure, match="not an object"):
        parse_chunk("[1, 2]")


def test_parse_chunk_returns_the_chunk() -> None:
    assert parse_chunk('{"choices": [], "error": null}') == {"choices": [], "error": None}


def test_token_estimates() -> None:
    assert [estimate_tokens(t) for t in ("", "abc", "abcd", "abcde")] == [0, 1, 1, 2]
    messages = [
        {"role": "user", "content": "12345678"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"function": {"name": "look", "arguments": "{}"}}],
        },
    ]
    assert estimate_input_tokens(messages) == 2 + 1 + 1


def test_describe_error_body() -> None:
    assert describe_error_body(b'{"error": {"message": "No such model", "code": 400}}') == "No such model"
    assert describe_error_body(b"<html>Bad Gateway</html>") == "<html>Bad Gateway</html>"
    assert describe_error_body(b'{"detail": "x"}') == '{"detail": "x"}'
