"""Conversations on `revos.chat`: one record per message."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar


@dataclass(frozen=True, slots=True)
class ChatMessageRecorded:
    """One message of a conversation: `seq` is its position, `message_id` is `conversation_id:seq`."""

    SCHEMA: ClassVar[str] = "revos.ChatMessageRecorded"

    message_id: str
    tenant_id: str
    agent_id: str
    conversation_id: str
    seq: int
    role: str  # "user" | "assistant" | "tool"
    content: str
    status: str  # "complete" | "interrupted" | "failed" | "unavailable"
    occurred_at: datetime
    client_message_id: str | None = None
    reply_to: int | None = None
    model: str | None = None
    latency_ms: int | None = None
    first_token_ms: int | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    tool_calls: str | None = None  # JSON text
    tool_name: str | None = None
    tool_call_id: str | None = None
    visitor_id: str | None = None
    origin: str | None = None
    customer: str | None = None  # the billing customer of a reply's tokens (schema v2)
