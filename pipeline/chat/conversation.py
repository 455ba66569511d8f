"""One conversation as a gateway process holds it, and the model's view of it; pure, no I/O.

The gateway numbers a conversation's messages (`seq` 1, 2, 3, ...), remembers the client message ids
it has processed so a resent message is never processed twice, and keeps the recent messages so a
reconnecting client is answered from memory. Older messages come from the `chat_messages` projection.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import orjson

from pipeline.records import AssistantTool, ChatMessageRecorded, UsageRecorded

USER, ASSISTANT, TOOL = "user", "assistant", "tool"
COMPLETE, INTERRUPTED, FAILED, UNAVAILABLE = "complete", "interrupted", "failed", "unavailable"
KEEP = 200  # recent messages kept in memory per conversation
CONTEXT_MESSAGES = 50  # messages of history a model sees


def message_id(conversation_id: str, seq: int) -> str:
    return f"{conversation_id}:{seq}"


def usage_events(record: ChatMessageRecorded) -> list[UsageRecorded]:
    """A reply's tokens as `llm.tokens` usage events of its billing customer, ids `<message_id>:input`
    and `:output`: derived from the durable reply record, so a stored reply is always billed, once.
    A reply without a customer (its agent has none) is not billed: no events, nothing to dead-letter."""
    if record.role != ASSISTANT or not record.customer:
        return []
    return [
        UsageRecorded(
            event_id=f"{record.message_id}:{direction}",
            tenant_id=record.tenant_id,
            customer=record.customer,
            type="llm.tokens",
            timestamp=record.occurred_at,
            quantity=Decimal(tokens),
            properties={"model": record.model or "", "direction": direction},
            received_at=record.occurred_at,
        )
        for direction, tokens in (("input", record.input_tokens), ("output", record.output_tokens))
        if tokens is not None
    ]


@dataclass(frozen=True, slots=True)
class Replay:
    """What a client resuming after `last_seq` must be sent, in order: first the messages with a seq
    in `stored` (older than memory: read them from the projection), then `buffered`."""

    stored: range
    buffered: tuple[ChatMessageRecorded, ...]


class Transcript:
    """The newest seq, the recent messages and every processed client message id of one conversation.

    Only the holder of the conversation's lock calls `append` or `burn`, so seqs are never handed out
    twice."""

    def __init__(
        self,
        tenant_id: str,
        conversation_id: str,
        agent_id: str,
        visitor_id: str | None,
        *,
        last_seq: int = 0,
        recent: Iterable[ChatMessageRecorded] = (),
        client_ids: Mapping[str, int] | None = None,
        keep: int = KEEP,
    ) -> None:
        self.tenant_id = tenant_id
        self.conversation_id = conversation_id
        self.agent_id = agent_id
        self.visitor_id = visitor_id
        self.last_seq = last_seq
        self._recent: deque[ChatMessageRecorded] = deque(sorted(recent, key=lambda m: m.seq), maxlen=keep)
        self._client_ids = dict(client_ids or {})
        self._burned: set[int] = set()

    def next_seq(self) -> int:
        return self.last_seq + 1

    def append(self, record: ChatMessageRecorded) -> None:
        """Remember a message the broker acknowledged; it must take the next seq."""
        if record.seq != self.next_seq():
            raise ValueError(f"message {record.seq} appended after {self.last_seq}")
        self.last_seq = record.seq
        self._recent.append(record)
        if record.client_message_id is not None:
            self._client_ids[record.client_message_id] = record.seq

    def burn(self, seq: int) -> None:
        """Skip a seq whose record may have reached the log unacknowledged: reusing it could give two
        different messages one number. Clients then see a gap, never a conflict."""
        if seq != self.next_seq():
            raise ValueError(f"seq {seq} burned after {self.last_seq}")
        self.last_seq = seq
        self._burned.add(seq)

    def seq_of(self, client_message_id: str) -> int | None:
        """The seq of the visitor message sent with this id, if it was processed."""
        return self._client_ids.get(client_message_id)

    def recent(self, count: int | None = None) -> list[ChatMessageRecorded]:
        messages = list(self._recent)
        return messages if count is None else messages[-count:] if count > 0 else []

    def replay(self, last_seq: int) -> Replay:
        """Every message after `last_seq`, for a client that has seen up to it."""
        first = self._recent[0].seq if self._recent else self.last_seq + 1
        stored = range(last_seq + 1, max(last_seq + 1, first))
        return Replay(stored, tuple(m for m in self._recent if m.seq > last_seq))

    def expected(self, seqs: range) -> set[int]:
        """The seqs of `seqs` that hold a message (burned ones do not)."""
        return {s for s in seqs if s not in self._burned}

    def turn_after(self, client_message_id: str, sent_through: int) -> list[ChatMessageRecorded]:
        """A resent message's answer: what the client has not been sent yet, up to the end of the turn
        that message started (its reply, once there is one). Never anything it already has."""
        seq = self.seq_of(client_message_id)
        if seq is None:
            return []
        ends = [m.seq for m in self._recent if m.seq == seq or m.reply_to == seq]
        if not ends:
            return []
        return [m for m in self._recent if sent_through < m.seq <= max(ends)]


def _openai(record: ChatMessageRecorded) -> dict[str, Any]:
    if record.role == TOOL:
        return {"role": TOOL, "tool_call_id": record.tool_call_id, "content": record.content}
    out: dict[str, Any] = {"role": record.role, "content": record.content}
    if record.tool_calls:
        out["tool_calls"] = orjson.loads(record.tool_calls)
    return out


def model_messages(
    system_prompt: str, history: Sequence[ChatMessageRecorded], limit: int = CONTEXT_MESSAGES
) -> list[dict[str, Any]]:
    """The OpenAI chat messages for the next model call: the system prompt and the last `limit`
    messages. Replies that no model wrote (`unavailable`, `failed`) are left out, and a tool call is
    kept only with all of its results (a cut-off window or turn must not leave one dangling: the API
    refuses such a history)."""
    window = [m for m in history[-limit:] if not (m.role == ASSISTANT and m.status in (UNAVAILABLE, FAILED))]
    answered = {m.tool_call_id for m in window if m.role == TOOL}
    kept_calls: set[str] = set()
    out: list[dict[str, Any]] = [{"role": "system", "content": system_prompt}]
    for record in window:
        message = _openai(record)
        if record.role == TOOL:
            if record.tool_call_id in kept_calls:
                out.append(message)
            continue
        calls = message.get("tool_calls")
        if calls:
            ids = {c.get("id") for c in calls}
            if ids <= answered:
                kept_calls |= ids
            else:
                del message["tool_calls"]
                if not record.content:
                    continue
        out.append(message)
    return out


def tool_specs(tools: Iterable[AssistantTool]) -> list[dict[str, Any]]:
    """An assistant's tools as OpenAI "function" tool specs (secrets and URLs stay here)."""
    return [
        {
            "type": "function",
            "function": {
                "name": t.name,
                "description": t.description,
                "parameters": orjson.loads(t.parameters),
            },
        }
        for t in tools
    ]
