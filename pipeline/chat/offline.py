"""The offline demo assistant: deterministic replies for when no model API key is configured.

It lets the whole chat path (streaming, tools, records, billing) run and be tested without a model.
`!tool <name> <json-arguments>` as the visitor's last message makes it call that tool; after a tool's
result it reports what the tool answered.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

LABEL = "[offline demo]"
_WORD = re.compile(r"\S+\s*")
_TOOL_COMMAND = re.compile(r"^!tool\s+(\S+)\s*(.*)$", re.DOTALL)


@dataclass(frozen=True, slots=True)
class OfflineReply:
    """Either text to stream or one tool call (OpenAI format) with empty text."""

    text: str
    tool_call: dict[str, Any] | None = None

    @property
    def output_words(self) -> int:
        if self.tool_call is None:
            return len(words(self.text))
        function = self.tool_call["function"]
        return len(words(f"{function['name']} {function['arguments']}"))


def offline_reply(messages: Sequence[Mapping[str, Any]], tool_names: Sequence[str]) -> OfflineReply:
    """The reply to a conversation, a pure function of its messages and the agent's tool names."""
    if not messages:
        return OfflineReply(f"{LABEL} Hello! No AI model is configured, so I can only echo.")
    last = messages[-1]
    content = _text(last)
    if last.get("role") == "tool":
        name = _tool_name(messages, str(last.get("tool_call_id") or "")) or "tool"
        return OfflineReply(f"{LABEL} The tool {name} answered: {content}")
    command = _TOOL_COMMAND.match(content.strip()) if last.get("role") == "user" else None
    if command is None:
        return OfflineReply(
            f'{LABEL} No AI model is configured, so this is a canned reply to: "{content.strip()}"'
        )
    name, arguments = command.group(1), command.group(2).strip() or "{}"
    if name not in tool_names:
        return OfflineReply(f"{LABEL} This agent has no tool named {name}.")
    call = {
        "id": f"call_offline_{len(messages)}",
        "type": "function",
        "function": {"name": name, "arguments": arguments},
    }
    return OfflineReply("", call)


def words(text: str) -> list[str]:
    """The pieces to stream: each word with the whitespace after it, so they join back into `text`."""
    leading = text[: len(text) - len(text.lstrip())]
    pieces = _WORD.findall(text)
    if leading and pieces:
        pieces[0] = leading + pieces[0]
    return pieces


def count_words(messages: Iterable[Mapping[str, Any]]) -> int:
    """The offline stand-in for input tokens: the words of every message."""
    return sum(len(words(_text(message))) for message in messages)


def _text(message: Mapping[str, Any]) -> str:
    content = message.get("content")
    return content if isinstance(content, str) else ""


def _tool_name(messages: Sequence[Mapping[str, Any]], call_id: str) -> str | None:
    for message in reversed(messages):
        for call in message.get("tool_calls") or ():
            if call.get("id") == call_id:
                return str(call.get("function", {}).get("name") or "") or None
    return None
