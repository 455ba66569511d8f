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
                {"200": _json(_ref("CustomerSettings")), "202": _json(_ref("CustomerSettings"), "not yet applied")},
                body="CustomerSettings",
                parameters=[_CUSTOMER],
            ),
            "get": _op(
                "A customer's settings", {"200": _json(_ref("CustomerSettings")), "404": _ERROR}, parameters=[_CUSTOMER]
            ),
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
