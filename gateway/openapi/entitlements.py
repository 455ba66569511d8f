"""OpenAPI schemas and paths of entitlements, the check that enforces them, and its holds."""

from __future__ import annotations

from typing import Any

from gateway.openapi.fragments import _CUSTOMER, _DECIMAL, _ERROR, _TIME, _json, _op, _ref

SCHEMAS: dict[str, Any] = {
    "EntitlementRequest": {
        "oneOf": [
            {
                "type": "object",
                "required": ["kind", "enabled"],
                "additionalProperties": False,
                "properties": {"kind": {"const": "boolean"}, "enabled": {"type": "boolean"}},
            },
            {
                "type": "object",
                "required": ["kind", "limit"],
                "additionalProperties": False,
                "properties": {"kind": {"const": "limit"}, "limit": _DECIMAL},
            },
            {
                "type": "object",
                "required": ["kind", "event_type", "allowance", "period"],
                "additionalProperties": False,
                "properties": {
                    "kind": {"const": "metered"},
                    "event_type": {"type": "string", "maxLength": 200},
                    "match": {
                        "type": "object",
                        "additionalProperties": {"type": ["string", "number", "boolean"]},
                    },
                    "allowance": _DECIMAL,
                    "period": {"enum": ["day", "month"]},
                },
            },
        ],
    },
    "Entitlement": {
        "type": "object",
        "required": ["feature", "kind"],
        "properties": {
            "feature": {"type": "string"},
            "kind": {"enum": ["boolean", "limit", "metered"]},
            "enabled": {"type": "boolean"},
            "limit": _DECIMAL,
            "event_type": {"type": "string"},
            "match": {"type": "object"},
            "allowance": _DECIMAL,
            "period": {"enum": ["day", "month"]},
            "used": {**_DECIMAL, "description": "metered: usage counted in the current period"},
            "remaining": {**_DECIMAL, "description": "metered: allowance - used, at least 0"},
            "period_start": _TIME,
            "updated_at": _TIME,
            "status": {"enum": ["applied", "pending"], "description": "answers to PUT only"},
        },
    },
    "CheckRequest": {
        "type": "object",
        "required": ["customer"],
        "additionalProperties": False,
        "properties": {
            "customer": {"type": "string", "maxLength": 200},
            "feature": {"type": "string", "maxLength": 200},
            "credits": {**_DECIMAL, "default": "0", "description": "credits about to be spent"},
            "hold": {
                "type": "object",
                "additionalProperties": False,
                "description": "reserve `credits` until usage `event_id` is charged, the hold is "
                "released, or ttl_seconds pass; the billing pipeline decides, in order with every "
                "other hold and charge of the customer",
                "properties": {
                    "event_id": {"type": "string", "maxLength": 200},
                    "ttl_seconds": {"type": "integer", "minimum": 1, "maximum": 3600, "default": 60},
                },
            },
        },
    },
    "CheckResult": {
        "type": "object",
        "required": ["allowed", "reason", "balance", "as_of", "lag_ms"],
        "properties": {
            "allowed": {"type": "boolean"},
            "reason": {
                "enum": [
                    "ok",
                    "feature_not_entitled",
                    "feature_disabled",
                    "allowance_exhausted",
                    "insufficient_credits",
                    "hold_timeout",
                ]
            },
            "balance": _DECIMAL,
            "on_hold": {**_DECIMAL, "description": "credits reserved by running holds"},
            "hold": {
                "type": "object",
                "description": "the hold placed, when one was asked for and allowed",
                "properties": {
                    "hold_id": {"type": "string"},
                    "credits": _DECIMAL,
                    "expires_at": _TIME,
                    "event_id": {"type": ["string", "null"]},
                },
            },
            "remaining": {**_DECIMAL, "description": "metered: allowance left; limit: the limit"},
            "as_of": {
                **_TIME,
                "type": ["string", "null"],
                "description": "all writes before it are seen",
            },
            "lag_ms": {"type": ["integer", "null"], "description": "upper bound on staleness"},
        },
    },
}

PATHS: dict[str, Any] = {
    "/v1/customers/{customer}/entitlements/{feature}": {
        "put": _op(
            "Set a customer's entitlement to a feature (boolean, limit or metered), replacing any",
            {"200": _json(_ref("Entitlement")), "202": _json(_ref("Entitlement"), "not yet applied")},
            body="EntitlementRequest",
            parameters=[
                _CUSTOMER,
                {"name": "feature", "in": "path", "required": True, "schema": {"type": "string"}},
            ],
        )
    },
    "/v1/customers/{customer}/entitlements": {
        "get": _op(
            "A customer's entitlements, with usage in the current period for metered ones",
            {
                "200": _json(
                    {
                        "type": "object",
                        "properties": {
                            "customer": {"type": "string"},
                            "entitlements": {"type": "array", "items": _ref("Entitlement")},
                        },
                    }
                ),
                "404": _ERROR,
            },
            parameters=[_CUSTOMER],
        )
    },
    "/v1/check": {
        "post": _op(
            "May a customer use a feature and spend credits now? Answers how fresh the answer is",
            {"200": _json(_ref("CheckResult"))},
            body="CheckRequest",
        )
    },
    "/v1/holds/{hold_id}": {
        "delete": _op(
            "Release a hold before it is used or expires (releasing an ended hold changes nothing)",
            {"200": _json({"type": "object"}), "404": _ERROR},
            parameters=[{"name": "hold_id", "in": "path", "required": True, "schema": {"type": "string"}}],
        )
    },
}
