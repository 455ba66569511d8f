"""OpenAPI schema and paths of credit grants, balances, charges, the ledger and alerts."""

from __future__ import annotations

from typing import Any

from gateway.openapi.fragments import _CUSTOMER, _DECIMAL, _ERROR, _OPTIONAL_VOID, _PAGE, _TIME, _json, _op

SCHEMAS: dict[str, Any] = {
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
}

PATHS: dict[str, Any] = {
    "/v1/customers/{customer}/grants": {
        "post": _op(
            "Grant credits",
            {
                "201": _json({"type": "object"}),
                "200": _json({"type": "object"}, "already granted"),
                "202": _json({"type": "object"}, "not yet applied"),
            },
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
}
