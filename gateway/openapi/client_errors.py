"""OpenAPI path of the client error reports the widget and the dashboard's pages send."""

from __future__ import annotations

from typing import Any

from gateway.openapi.fragments import _ERROR, _RATE_LIMITED, _errors, _json


def _text(longest: int) -> dict[str, Any]:
    return {"type": "string", "minLength": 1, "maxLength": longest}


PATHS: dict[str, Any] = {
    "/v1/client-errors": {
        "post": _errors(
            {
                "summary": "Report an uncaught error or a failed connection of the widget or a dashboard "
                "page (no API key: the widget's session token in `token` from its origin, or the "
                "dashboard's session cookie with its CSRF token); at most 8 KiB, rate-limited per "
                "client address and per agent; logged and counted in revos_client_errors_total",
                "security": [],
                "parameters": [
                    {"name": "token", "in": "query", "required": False, "schema": {"type": "string"}},
                    {"name": "Origin", "in": "header", "required": False, "schema": {"type": "string"}},
                ],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "additionalProperties": False,
                                "required": ["source", "kind", "message"],
                                "properties": {
                                    "source": {"type": "string", "enum": ["widget", "dashboard"]},
                                    "agent_id": _text(100),
                                    "kind": {"type": "string", "enum": ["error", "connection"]},
                                    "message": _text(2000),
                                    "stack": {"type": "string", "maxLength": 6000},
                                    "url": {"type": "string", "maxLength": 2000},
                                    "user_agent": {"type": "string", "maxLength": 500},
                                },
                            }
                        }
                    },
                },
                "responses": {
                    "202": _json(
                        {"type": "object", "properties": {"accepted": {"type": "boolean"}}}, "accepted"
                    ),
                    "400": _ERROR,
                    "401": {**_ERROR, "description": "invalid_token, session_expired or session_ended"},
                    "403": {**_ERROR, "description": "origin_not_allowed or csrf_failed"},
                    "413": {**_ERROR, "description": "payload_too_large: over 8 KiB"},
                    "429": _RATE_LIMITED,
                },
            },
            authenticated=False,
        )
    },
}
