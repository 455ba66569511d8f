"""Folding an OpenAI-compatible streamed chat completion, chunk by chunk, into text, tool calls and usage."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import orjson

from pipeline.errors import RevosError


class StreamFailure(RevosError):
    """The provider reported an error inside the stream (often with HTTP 200), or sent a garbled chunk."""

    code = "upstream_error"

    def __init__(self, message: str, *, upstream_code: str | None = None) -> None:
        super().__init__(message)
        self.upstream_code = upstream_code


@dataclass(frozen=True, slots=True)
class ToolCallDraft:
    """A tool call being assembled from fragments that share its `index`."""

    index: int
    id: str = ""
    name: str = ""
    arguments: str = ""


@dataclass(frozen=True, slots=True)
class StreamState:
    """Everything one model call has streamed so far."""

    text: str = ""
    tool_calls: tuple[ToolCallDraft, ...] = ()
    finish_reason: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    # A content or tool-call fragment arrived: from here on a failure must not fall back to another model,
    # because the visitor has (or could have) seen part of this model's answer.
    started: bool = False

    def finished_tool_calls(self) -> list[dict[str, Any]]:
        """The tool calls in OpenAI's format, in index order."""
        return [
            {
                "id": draft.id or f"call_{draft.index}",
                "type": "function",
                "function": {"name": draft.name, "arguments": draft.arguments or "{}"},
            }
            for draft in sorted(self.tool_calls, key=lambda d: d.index)
        ]


def parse_chunk(data: str) -> dict[str, Any]:
    """The JSON object of one `data:` payload; raises StreamFailure for an in-band error or garbage."""
    try:
        chunk = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise StreamFailure(f"undecodable stream chunk: {data[:200]!r}") from exc
    if not isinstance(chunk, dict):
        raise StreamFailure(f"stream chunk is not an object: {data[:200]!r}")
    error = chunk.get("error")
    if error:
        raise _failure(error)
    for choice in chunk.get("choices") or ():
        if isinstance(choice, dict) and choice.get("finish_reason") == "error":
            raise StreamFailure("the provider ended the stream with finish_reason 'error'")
    return chunk


def apply_chunk(state: StreamState, chunk: Mapping[str, Any]) -> tuple[StreamState, str]:
    """The state after `chunk`, and the text it adds (possibly empty)."""
    piece = ""
    usage = chunk.get("usage")
    if isinstance(usage, dict):
        state = replace(
            state,
            input_tokens=_int_or(usage.get("prompt_tokens"), state.input_tokens),
            output_tokens=_int_or(usage.get("completion_tokens"), state.output_tokens),
        )
    choices = chunk.get("choices") or ()
    choice = choices[0] if choices and isinstance(choices[0], dict) else None
    if choice is None:
        return state, piece
    delta = choice.get("delta") or {}
    content = delta.get("content")
    if isinstance(content, str) and content:
        piece = content
        state = replace(state, text=state.text + content, started=True)
    fragments = delta.get("tool_calls")
    if isinstance(fragments, list) and fragments:
        state = replace(state, tool_calls=_merge_tool_calls(state.tool_calls, fragments), started=True)
    if choice.get("finish_reason"):
        state = replace(state, finish_reason=str(choice["finish_reason"]))
    return state, piece


def estimate_tokens(text: str) -> int:
    """A rough token count (about four characters per token) for when a provider reports no usage."""
    return math.ceil(len(text) / 4) if text else 0


def estimate_input_tokens(messages: Iterable[Mapping[str, Any]]) -> int:
    """A rough token count of a prompt: its texts and the tool calls it replays."""
    total = 0
    for message in messages:
        content = message.get("content")
        if isinstance(content, str):
            total += estimate_tokens(content)
        for call in message.get("tool_calls") or ():
            function = call.get("function") or {}
            total += estimate_tokens(str(function.get("name", ""))) + estimate_tokens(
                str(function.get("arguments", ""))
            )
    return total


def describe_error_body(body: bytes, limit: int = 300) -> str:
    """The provider's own words from an error response, `{"error": {"message"}}` when it has that shape."""
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        return body[:limit].decode("utf-8", errors="replace").strip()
    if isinstance(parsed, dict) and parsed.get("error"):
        return _failure(parsed["error"]).message[:limit]
    return body[:limit].decode("utf-8", errors="replace").strip()


def _failure(error: object) -> StreamFailure:
    if isinstance(error, dict):
        code = error.get("code")
        message = str(error.get("message") or "the provider reported an error")
        return StreamFailure(message, upstream_code=None if code is None else str(code))
    return StreamFailure(str(error))


def _merge_tool_calls(drafts: tuple[ToolCallDraft, ...], fragments: list[Any]) -> tuple[ToolCallDraft, ...]:
    by_index = {draft.index: draft for draft in drafts}
    for position, fragment in enumerate(fragments):
        if not isinstance(fragment, dict):
            continue
        index = fragment.get("index")
        index = index if isinstance(index, int) else position
        function = fragment.get("function") or {}
        draft = by_index.get(index, ToolCallDraft(index=index))
        # The id and name come whole in the first fragment; only the arguments arrive in pieces.
        by_index[index] = replace(
            draft,
            id=draft.id or str(fragment.get("id") or ""),
            name=draft.name or str(function.get("name") or ""),
            arguments=draft.arguments + str(function.get("arguments") or ""),
        )
    return tuple(by_index[i] for i in sorted(by_index))


def _int_or(value: object, default: int | None) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else default
