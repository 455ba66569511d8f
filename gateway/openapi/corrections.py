"""OpenAPI schemas and paths of voiding and amending charged usage events."""

from __future__ import annotations

from typing import Any

from gateway.openapi.fragments import _DECIMAL, _ERROR, _OPTIONAL_VOID, _json, _op, _ref

_EVENT = {
    "name": "event_id",
    "in": "path",
    "required": True,
    "description": "may contain `/`, escaped as `%2F` or not",
    "schema": {"type": "string"},
}

SCHEMAS: dict[str, Any] = {
    "VoidRequest": {
        "type": "object",
        "additionalProperties": False,
        "properties": {"reason": {"type": "string", "maxLength": 1000}},
    },
    "AmendRequest": {
        "type": "object",
        "additionalProperties": False,
        "description": "at least one of quantity and properties",
        "properties": {
            "quantity": {"oneOf": [_DECIMAL, {"type": "number", "minimum": 0}]},
            "properties": {
                "type": "object",
                "additionalProperties": {"type": ["string", "number", "boolean"]},
            },
            "reason": {"type": "string", "maxLength": 1000},
        },
    },
    "Correction": {
        "type": "object",
        "properties": {
            "event_id": {"type": "string"},
            "correction_id": {"type": ["string", "null"]},
            "status": {"enum": ["applied", "unchanged", "pending"]},
            "credits_before": _DECIMAL,
            "credits_after": _DECIMAL,
            "charge": {"type": "object"},
        },
    },
}

PATHS: dict[str, Any] = {
    "/v1/events/{event_id}/void": {
        "post": _op(
            "Void a charged usage event: its credits are refunded",
            {
                "200": _json(_ref("Correction")),
                "202": _json(_ref("Correction"), "not yet applied"),
                "404": _ERROR,
                "409": _ERROR,
            },
            requestBody=_OPTIONAL_VOID,
            parameters=[_EVENT],
        )
    },
    "/v1/events/{event_id}/amend": {
        "post": _op(
            "Amend a charged usage event's quantity or properties; re-priced by the same burn-table version",
            {
                "200": _json(_ref("Correction")),
                "202": _json(_ref("Correction"), "not yet applied"),
                "404": _ERROR,
                "409": _ERROR,
                "422": _ERROR,
            },
            body="AmendRequest",
            parameters=[_EVENT],
        )
    },
}
