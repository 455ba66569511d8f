"""OpenAPI schemas and paths of a tenant's API keys: issue, list, revoke, rotate."""

from __future__ import annotations

from typing import Any

from gateway.openapi.fragments import _ERROR, _TIME, _errors, _json, _ref

_KEY_ID = {"name": "key_id", "in": "path", "required": True, "schema": {"type": "string"}}
_SCOPE = {
    "enum": ["admin", "ingest"],
    "description": "admin: every route; ingest: POST /v1/events, POST /v1/check, DELETE /v1/holds/{id}, "
    "GET a customer's balance and entitlements",
}
_GRACE = {
    "required": False,
    "content": {"application/json": {"schema": _ref("Revocation")}},
}


def _op(summary: str, responses: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return _errors({"summary": summary, "responses": responses, **extra})


SCHEMAS: dict[str, Any] = {
    "ApiKey": {
        "type": "object",
        "properties": {
            "key_id": {"type": "string"},
            "prefix": {"type": "string", "description": "the key's first characters, for recognising it"},
            "scope": _SCOPE,
            "created_at": _TIME,
            "revoked_at": {
                **_TIME,
                "type": ["string", "null"],
                "description": "when it stops (or stopped) working",
            },
            "status": {"enum": ["active", "expiring", "revoked"]},
            "current": {"type": "boolean", "description": "the key this request was made with"},
        },
    },
    "IssuedApiKey": {
        "type": "object",
        "properties": {
            "key_id": {"type": "string"},
            "prefix": {"type": "string"},
            "scope": _SCOPE,
            "api_key": {"type": "string", "description": "the key itself, shown this once"},
            "created_at": _TIME,
            "status": {"enum": ["applied", "pending"]},
            "replaces": {
                "type": "object",
                "description": "rotation only: the old key and when it stops working",
                "properties": {"key_id": {"type": "string"}, "revoked_at": _TIME},
            },
        },
    },
    "NewApiKey": {
        "type": "object",
        "additionalProperties": False,
        "properties": {"scope": {**_SCOPE, "default": "admin"}},
    },
    "Revocation": {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "grace_seconds": {
                "type": "integer",
                "minimum": 0,
                "maximum": 2592000,
                "description": "how long the key keeps working: revoke 0 (default), rotate 86400 (default)",
            }
        },
    },
}

PATHS: dict[str, Any] = {
    "/v1/keys": {
        "get": _op(
            "The tenant's API keys (never the keys themselves)",
            {
                "200": _json(
                    {"type": "object", "properties": {"keys": {"type": "array", "items": _ref("ApiKey")}}}
                )
            },
        ),
        "post": _op(
            "Issue a new API key of the tenant; the key is shown once",
            {
                "201": _json(_ref("IssuedApiKey")),
                "202": _json(_ref("IssuedApiKey"), "recorded, not yet usable"),
            },
            requestBody={"required": False, "content": {"application/json": {"schema": _ref("NewApiKey")}}},
        ),
    },
    "/v1/keys/{key_id}/revoke": {
        "post": _op(
            "Revoke a key at once, or after `grace_seconds`; the earliest revocation of a key wins",
            {
                "200": _json({"type": "object"}, "revoked (status applied or unchanged)"),
                "202": _json({"type": "object"}, "recorded, not yet applied"),
                "404": _ERROR,
                "409": _ERROR,
            },
            parameters=[_KEY_ID],
            requestBody=_GRACE,
        )
    },
    "/v1/keys/{key_id}/rotate": {
        "post": _op(
            "Issue a new key of the same scope and revoke this one after `grace_seconds` (default one day)",
            {
                "201": _json(_ref("IssuedApiKey")),
                "202": _json(_ref("IssuedApiKey"), "recorded, not yet usable"),
                "404": _ERROR,
                "409": _ERROR,
            },
            parameters=[_KEY_ID],
            requestBody=_GRACE,
        )
    },
}
