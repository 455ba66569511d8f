"""OpenAPI paths of the embeddable chat widget: its script, chat page and sessions (a site's, and the
dashboard's test chat's)."""

from __future__ import annotations

from typing import Any

from gateway.openapi.fragments import _ERROR, _RATE_LIMITED, _TIME, _errors, _json, _op

_SESSION = {
    "type": "object",
    "properties": {
        "token": {"type": "string"},
        "expires_at": _TIME,
        "visitor_id": {"type": "string"},
        "agent": {
            "type": "object",
            "properties": {
                "agent_id": {"type": "string"},
                "name": {"type": "string"},
                "branding": {"type": "object"},
            },
        },
    },
}

PATHS: dict[str, Any] = {
    "/widget.js": {
        "get": {
            "summary": "The embeddable chat widget script (ETag; answers 304 to a matching If-None-Match)",
            "security": [],
            "responses": {
                "200": {"description": "the script", "content": {"application/javascript": {}}},
                "304": {"description": "not modified"},
                "400": _ERROR,
            },
        }
    },
    "/chat/{agent_id}": {
        "get": _errors(
            {
                "summary": "The agent's chat as a full page, for iframes; "
                "Content-Security-Policy frame-ancestors lists the agent's allowed domains",
                "security": [],
                "parameters": [
                    {"name": "agent_id", "in": "path", "required": True, "schema": {"type": "string"}}
                ],
                "responses": {
                    "200": {"description": "the chat page", "content": {"text/html": {}}},
                    "404": {"description": "no such agent", "content": {"text/html": {}}},
                },
            },
            authenticated=False,
        )
    },
    "/v1/widget/sessions": {
        "post": _errors(
            {
                "summary": "A chat session token for the widget on a page whose Origin the agent allows "
                "(no API key; the websocket WS /v1/chat?token=... speaks the protocol of docs/chat.md)",
                "security": [],
                "parameters": [
                    {"name": "Origin", "in": "header", "required": True, "schema": {"type": "string"}}
                ],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["agent_id"],
                                "properties": {
                                    "agent_id": {"type": "string"},
                                    "visitor_id": {"type": "string"},
                                },
                            }
                        }
                    },
                },
                "responses": {
                    "201": _json(_SESSION),
                    "400": _ERROR,
                    "403": {**_ERROR, "description": "origin_required or origin_not_allowed"},
                    "404": _ERROR,
                    "429": _RATE_LIMITED,
                },
            },
            authenticated=False,
        ),
        "options": {
            "summary": "CORS preflight for the widget",
            "security": [],
            "responses": {"204": {"description": "allowed methods and headers"}, "400": _ERROR},
        },
    },
    "/v1/agents/{agent_id}/test-sessions": {
        "post": _op(
            "A chat session token for trying one of your agents from the gateway's own origin (the "
            "dashboard's test chat), whatever its allowlist; the visitor is `test:` + the caller",
            {"201": _json(_SESSION), "404": _ERROR},
            requestBody={
                "required": False,
                "content": {
                    "application/json": {
                        "schema": {"type": "object", "additionalProperties": False, "properties": {}}
                    }
                },
            },
            parameters=[{"name": "agent_id", "in": "path", "required": True, "schema": {"type": "string"}}],
        )
    },
}
