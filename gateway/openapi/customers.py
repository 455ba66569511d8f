"""OpenAPI schemas and paths of customers: the list with balances, and a customer's settings."""

from __future__ import annotations

from typing import Any

from gateway.openapi.fragments import _CUSTOMER, _DECIMAL, _ERROR, _PAGE, _TIME, _json, _op, _ref

SCHEMAS: dict[str, Any] = {
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
    "Customer": {
        "type": "object",
        "description": "a customer's settings as answered",
        "required": ["customer", "burn_table", "credit_limit", "metadata", "alert_thresholds"],
        "properties": {
            "customer": {"type": "string"},
            "burn_table": {"type": "string"},
            "credit_limit": _DECIMAL,
            "metadata": {"type": "object", "additionalProperties": {"type": "string"}},
            "alert_thresholds": {"type": "array", "items": _DECIMAL, "description": "highest first"},
            "status": {"enum": ["applied", "pending"], "description": "answers to PUT only"},
        },
    },
    "CustomerSummary": {
        "type": "object",
        "description": "a customer in the list: its balance now, debt and settings at a glance",
        "required": ["customer", "balance", "debt", "credit_limit", "burn_table", "last_activity_at"],
        "properties": {
            "customer": {"type": "string"},
            "balance": {**_DECIMAL, "description": "spendable credits now minus debt (may be negative)"},
            "debt": _DECIMAL,
            "credit_limit": _DECIMAL,
            "burn_table": {"type": "string"},
            "last_activity_at": {
                **_TIME,
                "description": "when a charge, grant, expiry, void or settings change last touched it",
            },
        },
    },
}

PATHS: dict[str, Any] = {
    "/v1/customers": {
        "get": _op(
            "The tenant's customers by id, with their balances; customers appear with their first "
            "usage, grant or settings",
            {
                "200": _json(
                    {
                        "type": "object",
                        "required": ["customers", "as_of", "next_cursor"],
                        "properties": {
                            "customers": {"type": "array", "items": _ref("CustomerSummary")},
                            "as_of": {**_TIME, "description": "the time the balances are counted at"},
                            "next_cursor": {"type": ["string", "null"]},
                        },
                    }
                )
            },
            parameters=[
                {
                    "name": "prefix",
                    "in": "query",
                    "schema": {"type": "string", "maxLength": 200},
                    "description": "only customers whose id starts with this",
                },
                *_PAGE,
            ],
        )
    },
    "/v1/customers/{customer}": {
        "put": _op(
            "Set a customer's burn table, credit limit and metadata",
            {
                "200": _json(_ref("Customer")),
                "202": _json(_ref("Customer"), "not yet applied"),
            },
            body="CustomerSettings",
            parameters=[_CUSTOMER],
        ),
        "get": _op(
            "A customer's settings",
            {"200": _json(_ref("Customer")), "404": _ERROR},
            parameters=[_CUSTOMER],
        ),
    },
}
