"""The OpenAPI document served at /openapi.json: the public contract of the HTTP API."""

from __future__ import annotations

from typing import Any

from gateway.openapi import (
    agents,
    audit,
    conversations,
    corrections,
    credits,
    customers,
    entitlements,
    health,
    keys,
    usage,
    widget,
)

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
            **usage.SCHEMAS,
            **customers.SCHEMAS,
            **entitlements.SCHEMAS,
            **credits.SCHEMAS,
            **corrections.SCHEMAS,
            **agents.SCHEMAS,
            **conversations.SCHEMAS,
            **keys.SCHEMAS,
        },
    },
    "security": [{"bearer": []}],
    "paths": {
        **usage.PATHS,
        **customers.PATHS,
        **entitlements.PATHS,
        **audit.PATHS,
        **keys.PATHS,
        **credits.PATHS,
        **corrections.PATHS,
        **agents.PATHS,
        **conversations.PATHS,
        **widget.PATHS,
        **health.PATHS,
    },
}
