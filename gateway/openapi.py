"""The OpenAPI document served at /openapi.json: the public contract of the HTTP API."""

from __future__ import annotations

from typing import Any

_DECIMAL = {"type": "string", "pattern": r"^-?\d+(\.\d{1,9})?$", "description": "exact decimal"}
_TIME = {"type": "string", "format": "date-time"}
_ERROR = {
    "description": "error",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
}


def _json(schema: dict[str, Any], description: str = "ok") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _op(summary: str, responses: dict[str, Any], body: str | None = None, **extra: Any) -> dict[str, Any]:
    op: dict[str, Any] = {"summary": summary, "responses": {**responses, "400": _ERROR, "401": _ERROR}}
    if body:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": _ref(body)}}}
    op.update(extra)
    return op


_CUSTOMER = {"name": "customer", "in": "path", "required": True, "schema": {"type": "string"}}
_EVENT = {"name": "event_id", "in": "path", "required": True, "schema": {"type": "string"}}
_PAGE = [
    {
        "name": "limit",
        "in": "query",
        "schema": {"type": "integer", "minimum": 1, "maximum": 500, "default": 50},
    },
    {"name": "cursor", "in": "query", "schema": {"type": "string"}},
]
_OPTIONAL_VOID = {"required": False, "content": {"application/json": {"schema": _ref("VoidRequest")}}}

OPENAPI: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "Revos API", "version": "1"},
    "components": {
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        "schemas": {
            "Error": {
                "type": "object",
                "properties": {
                    "error": {
                        "type": "object",
                        "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
                        "required": ["code", "message"],
                    }
                },
            },
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
            "BurnRule": {
                "type": "object",
                "required": ["type", "credits_per_unit"],
                "properties": {
                    "type": {"type": "string"},
                    "match": {
                        "type": "object",
                        "additionalProperties": {"type": ["string", "number", "boolean"]},
                    },
                    "credits_per_unit": _DECIMAL,
                    "cost_per_unit": _DECIMAL,
                },
            },
            "BurnTable": {
                "type": "object",
                "required": ["rules"],
                "properties": {"rules": {"type": "array", "items": _ref("BurnRule")}, "effective_at": _TIME},
            },
            "CustomerSettings": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "burn_table": {"type": "string", "default": "default"},
                    "credit_limit": _DECIMAL,
                    "metadata": {"type": "object", "additionalProperties": {"type": "string"}},
                    "alert_thresholds": {
                        "type": "array",
                        "maxItems": 10,
                        "items": {"oneOf": [_DECIMAL, {"type": "number"}]},
                        "description": "balances that raise balance.threshold_crossed when crossed downwards; "
                        "answered deduplicated, highest first",
                    },
                },
            },
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
            "GrantRequest": {
                "type": "object",
                "required": ["amount"],
                "properties": {
                    "id": {"type": "string"},
                    "amount": _DECIMAL,
                    "priority": {"type": "integer", "description": "higher burns first"},
                    "effective_at": _TIME,
                    "expires_at": _TIME,
                    "reason": {"type": "string"},
                },
            },
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
        },
    },
    "security": [{"bearer": []}],
    "paths": {
        "/v1/events": {
            "post": _op(
                "Send usage events",
                {"200": _json(_ref("EventResults")), "413": _ERROR, "503": _ERROR},
                body="EventBatch",
            )
        },
        "/v1/burn-tables/{name}": {
            "put": _op(
                "Publish a new burn-table version",
                {
                    "200": _json({"type": "object"}),
                    "202": _json({"type": "object"}, "accepted, not yet applied"),
                },
                body="BurnTable",
                parameters=[{"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}],
            ),
            "get": _op(
                "The newest version of a burn table",
                {"200": _json({"type": "object"}), "404": _ERROR},
                parameters=[{"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}],
            ),
        },
        "/v1/customers/{customer}": {
            "put": _op(
                "Set a customer's burn table, credit limit and metadata",
                {
                    "200": _json(_ref("CustomerSettings")),
                    "202": _json(_ref("CustomerSettings"), "not yet applied"),
                },
                body="CustomerSettings",
                parameters=[_CUSTOMER],
            ),
            "get": _op(
                "A customer's settings",
                {"200": _json(_ref("CustomerSettings")), "404": _ERROR},
                parameters=[_CUSTOMER],
            ),
        },
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
                parameters=[
                    {"name": "hold_id", "in": "path", "required": True, "schema": {"type": "string"}}
                ],
            )
        },
        "/v1/audit": {
            "get": _op(
                "The tenant's audit log, oldest first",
                {"200": _json({"type": "object"})},
                parameters=[
                    {"name": n, "in": "query", "schema": {"type": "string"}}
                    for n in ("target", "action", "since", "limit", "cursor")
                ],
            )
        },
        "/v1/customers/{customer}/grants": {
            "post": _op(
                "Grant credits",
                {"201": _json({"type": "object"}), "200": _json({"type": "object"}, "already granted")},
                body="GrantRequest",
                parameters=[_CUSTOMER],
            )
        },
        "/v1/customers/{customer}/balance": {
            "get": _op(
                "A customer's balance and grants",
                {"200": _json({"type": "object"}), "404": _ERROR},
                parameters=[_CUSTOMER],
            )
        },
        "/v1/customers/{customer}/charges": {
            "get": _op(
                "A customer's charges, newest first",
                {"200": _json({"type": "object"}), "404": _ERROR},
                parameters=[
                    _CUSTOMER,
                    {
                        "name": "limit",
                        "in": "query",
                        "schema": {"type": "integer", "minimum": 1, "maximum": 500},
                    },
                    {"name": "cursor", "in": "query", "schema": {"type": "string"}},
                ],
            )
        },
        "/v1/customers/{customer}/grants/{grant_id}/void": {
            "post": _op(
                "Void the unspent credits of a grant",
                {
                    "200": _json({"type": "object"}, "voided (or already voided)"),
                    "202": _json({"type": "object"}, "not yet applied"),
                    "404": _ERROR,
                    "409": _ERROR,
                },
                requestBody=_OPTIONAL_VOID,
                parameters=[
                    _CUSTOMER,
                    {"name": "grant_id", "in": "path", "required": True, "schema": {"type": "string"}},
                ],
            )
        },
        "/v1/customers/{customer}/ledger": {
            "get": _op(
                "Every movement of a customer's credits, oldest first, with the running balance",
                {"200": _json({"type": "object"}), "404": _ERROR},
                parameters=[_CUSTOMER, *_PAGE],
            )
        },
        "/v1/customers/{customer}/alerts": {
            "get": _op(
                "The balance thresholds a customer crossed, oldest first",
                {"200": _json({"type": "object"}), "404": _ERROR},
                parameters=[_CUSTOMER, *_PAGE],
            )
        },
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
        "/healthz": {
            "get": {"summary": "Liveness", "security": [], "responses": {"200": {"description": "alive"}}}
        },
        "/readyz": {
            "get": {
                "summary": "Readiness (database and broker reachable)",
                "security": [],
                "responses": {"200": {"description": "ready"}, "503": _ERROR},
            }
        },
    },
}
