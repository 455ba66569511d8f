"""OpenAPI schema and paths of a customer's settings."""

from __future__ import annotations

from typing import Any

from gateway.openapi.fragments import _CUSTOMER, _DECIMAL, _ERROR, _json, _op, _ref

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
}

PATHS: dict[str, Any] = {
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
