"""OpenAPI schemas and paths of chat conversations and their export."""

from __future__ import annotations

from typing import Any

from gateway.openapi.fragments import _ERROR, _EXPORT_CONTENT, _EXPORT_FORMAT, _PAGE, _TIME, _json, _op, _ref

_CHAT_FILTERS = [
    {"name": "agent_id", "in": "query", "schema": {"type": "string"}},
    {"name": "since", "in": "query", "schema": _TIME, "description": "inclusive"},
    {"name": "until", "in": "query", "schema": _TIME, "description": "exclusive"},
]

SCHEMAS: dict[str, Any] = {
    "Conversation": {
        "type": "object",
        "properties": {
            "conversation_id": {"type": "string"},
            "agent_id": {"type": "string"},
            "visitor_id": {"type": ["string", "null"]},
            "origin": {"type": ["string", "null"]},
            "started_at": _TIME,
            "last_message_at": _TIME,
            "last_seq": {"type": "integer"},
        },
    },
    "ChatMessage": {
        "type": "object",
        "properties": {
            "seq": {"type": "integer"},
            "message_id": {"type": "string"},
            "role": {"enum": ["user", "assistant", "tool"]},
            "content": {"type": "string"},
            "status": {"enum": ["complete", "interrupted", "failed", "unavailable"]},
            "client_message_id": {"type": ["string", "null"]},
            "reply_to": {"type": ["integer", "null"]},
            "model": {"type": ["string", "null"]},
            "latency_ms": {"type": ["integer", "null"]},
            "first_token_ms": {"type": ["integer", "null"]},
            "input_tokens": {"type": ["integer", "null"]},
            "output_tokens": {"type": ["integer", "null"]},
            "tool_calls": {"type": ["array", "null"]},
            "tool_name": {"type": ["string", "null"]},
            "tool_call_id": {"type": ["string", "null"]},
            "occurred_at": _TIME,
        },
    },
}

PATHS: dict[str, Any] = {
    "/v1/conversations": {
        "get": _op(
            "Conversations, newest first (by start), optionally of one agent and a time range",
            {
                "200": _json(
                    {
                        "type": "object",
                        "properties": {
                            "conversations": {"type": "array", "items": _ref("Conversation")},
                            "next_cursor": {"type": ["string", "null"]},
                        },
                    }
                )
            },
            parameters=[*_CHAT_FILTERS, *_PAGE],
        )
    },
    "/v1/conversations/export": {
        "get": _op(
            "Every message whose time is in [since, until), oldest first, streamed as CSV (with a header "
            "row), a JSON array or JSON lines",
            {
                "200": {
                    "description": "conversation_id, seq, role, status, content, model, input_tokens, "
                    "output_tokens, occurred_at, agent_id per message",
                    "content": _EXPORT_CONTENT,
                }
            },
            parameters=[
                _EXPORT_FORMAT,
                *_CHAT_FILTERS,
            ],
        )
    },
    "/v1/conversations/{conversation_id}": {
        "get": _op(
            "A conversation with all its messages in order",
            {
                "200": _json(
                    {
                        "allOf": [
                            _ref("Conversation"),
                            {
                                "type": "object",
                                "properties": {"messages": {"type": "array", "items": _ref("ChatMessage")}},
                            },
                        ]
                    }
                ),
                "404": _ERROR,
            },
            parameters=[
                {"name": "conversation_id", "in": "path", "required": True, "schema": {"type": "string"}}
            ],
        )
    },
}
