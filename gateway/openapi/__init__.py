"""The OpenAPI document served at /openapi.json: the public contract of the HTTP API."""

from __future__ import annotations

import re
from typing import Any

from gateway.http.scopes import ROUTE_SCOPES
from gateway.openapi import (
    agents,
    analytics,
    audit,
    burn_tables,
    client_errors,
    conversations,
    corrections,
    credits,
    customers,
    dead_letters,
    entitlements,
    health,
    keys,
    usage,
    voice,
    webhooks,
    widget,
)
from gateway.openapi.fragments import _ERROR
from pipeline.admin.keys import ADMIN

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
            **burn_tables.SCHEMAS,
            **customers.SCHEMAS,
            **entitlements.SCHEMAS,
            **credits.SCHEMAS,
            **analytics.SCHEMAS,
            **corrections.SCHEMAS,
            **agents.SCHEMAS,
            **conversations.SCHEMAS,
            **keys.SCHEMAS,
            **dead_letters.SCHEMAS,
            **voice.SCHEMAS,
            **webhooks.SCHEMAS,
        },
    },
    "security": [{"bearer": []}],
    "paths": {
        **usage.PATHS,
        **burn_tables.PATHS,
        **customers.PATHS,
        **entitlements.PATHS,
        **audit.PATHS,
        **dead_letters.PATHS,
        **keys.PATHS,
        **credits.PATHS,
        **analytics.PATHS,
        **corrections.PATHS,
        **agents.PATHS,
        **conversations.PATHS,
        **voice.PATHS,
        **webhooks.PATHS,
        **widget.PATHS,
        **client_errors.PATHS,
        **health.PATHS,
    },
}


def _document_scopes(paths: dict[str, Any]) -> None:
    """Every operation that needs an admin key may answer 403 `insufficient_scope` (to an ingest key,
    or to a key in its rotation grace period managing keys); the route table in gateway/scopes.py says which."""
    admin = {
        (re.sub(r":\w+}", "}", path), method.lower())
        for (path, method), s in ROUTE_SCOPES.items()
        if s == ADMIN
    }
    for path, operations in paths.items():
        for method, operation in operations.items():
            if (path, method) in admin:
                operation["responses"].setdefault("403", _ERROR)


_document_scopes(OPENAPI["paths"])
