"""OpenAPI schemas and paths of usage events (the burn tables that price them: burn_tables.py)."""

from __future__ import annotations

from typing import Any

from gateway.openapi.fragments import _DECIMAL, _ERROR, _TIME, _json, _op, _ref

SCHEMAS: dict[str, Any] = {
    "UsageEvent": {
        "type": "object",
        "required": ["id", "customer", "type"],
        "additionalProperties": False,
        "properties": {
            "id": {
                "type": "string",
                "maxLength": 200,
                "description": "idempotency key, unique per tenant",
            },
            "customer": {"type": "string", "maxLength": 200},
            "type": {"type": "string", "maxLength": 200},
            "timestamp": {**_TIME, "description": "event time; 35 days back to 5 minutes ahead"},
            "quantity": {"oneOf": [_DECIMAL, {"type": "number", "minimum": 0}], "default": "1"},
            "properties": {
                "type": "object",
                "additionalProperties": {"type": ["string", "number", "boolean"]},
            },
        },
    },
    "EventBatch": {
        "type": "object",
        "required": ["events"],
        "properties": {"events": {"type": "array", "maxItems": 1000, "items": _ref("UsageEvent")}},
    },
    "EventResults": {
        "type": "object",
        "properties": {
            "accepted": {"type": "integer"},
            "rejected": {"type": "integer"},
            "results": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "id": {"type": ["string", "null"]},
                        "status": {"enum": ["accepted", "rejected"]},
                        "code": {"type": "string"},
                        "message": {"type": "string"},
                    },
                },
            },
        },
    },
}

PATHS: dict[str, Any] = {
    "/v1/events": {
        "post": _op(
            "Send usage events",
            {"200": _json(_ref("EventResults")), "413": _ERROR, "503": _ERROR},
            body="EventBatch",
        )
    },
}
