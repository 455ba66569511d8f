"""OpenAPI schemas and paths of burn tables: publish a version, read them, and price an event with one."""

from __future__ import annotations

from typing import Any

from gateway.openapi.fragments import _DECIMAL, _ERROR, _PAGE, _TIME, _json, _op, _ref

_NAME = {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}
_NULLABLE_DECIMAL = {**_DECIMAL, "type": ["string", "null"]}
_MATCH = {"type": "object", "additionalProperties": {"type": ["string", "number", "boolean"]}}

SCHEMAS: dict[str, Any] = {
    "BurnRule": {
        "type": "object",
        "required": ["type", "credits_per_unit"],
        "properties": {
            "type": {"type": "string"},
            "match": _MATCH,
            "credits_per_unit": _DECIMAL,
            "cost_per_unit": _DECIMAL,
        },
    },
    "BurnTable": {
        "type": "object",
        "required": ["rules"],
        "properties": {"rules": {"type": "array", "items": _ref("BurnRule")}, "effective_at": _TIME},
    },
    "StoredBurnRule": {
        "type": "object",
        "properties": {
            "type": {"type": "string"},
            "match": _MATCH,
            "credits_per_unit": _DECIMAL,
            "cost_per_unit": _NULLABLE_DECIMAL,
        },
    },
    "BurnTableSummary": {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "version": {"type": "integer", "description": "the newest version"},
            "effective_at": {**_TIME, "description": "when the newest version takes (or took) effect"},
            "published_at": _TIME,
            "rule_count": {"type": "integer"},
        },
    },
    "BurnTableVersion": {
        "type": "object",
        "properties": {
            "version": {"type": "integer"},
            "effective_at": _TIME,
            "rules": {"type": "array", "items": _ref("StoredBurnRule")},
            "published_at": _TIME,
            "published_by": {"type": "string", "description": "key:<key id>, user:<user id> or cli"},
        },
    },
    "PricePreview": {
        "type": "object",
        "required": ["type"],
        "additionalProperties": False,
        "properties": {
            "type": {"type": "string", "maxLength": 200},
            "quantity": {"oneOf": [_DECIMAL, {"type": "number", "minimum": 0}], "default": "1"},
            "properties": _MATCH,
            "timestamp": {**_TIME, "description": "event time, default now; picks the version in force"},
        },
    },
    "PricedEvent": {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "version": {"type": "integer", "description": "the version in force at the event's time"},
            "effective_at": _TIME,
            "credits": _DECIMAL,
            "cost": _NULLABLE_DECIMAL,
            "rule": {
                "type": "object",
                "description": "the rule that matched, and its place in the version's rules (from 0)",
                "properties": {
                    "index": {"type": "integer"},
                    "type": {"type": "string"},
                    "match": _MATCH,
                    "credits_per_unit": _DECIMAL,
                    "cost_per_unit": _NULLABLE_DECIMAL,
                },
            },
            "timestamp": _TIME,
        },
    },
}

PATHS: dict[str, Any] = {
    "/v1/burn-tables": {
        "get": _op(
            "The tenant's burn tables by name, each with its newest version",
            {
                "200": _json(
                    {
                        "type": "object",
                        "properties": {
                            "burn_tables": {"type": "array", "items": _ref("BurnTableSummary")},
                            "next_cursor": {"type": ["string", "null"]},
                        },
                    }
                )
            },
            parameters=_PAGE,
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
            parameters=[_NAME],
        ),
        "get": _op(
            "The newest version of a burn table",
            {"200": _json({"type": "object"}), "404": _ERROR},
            parameters=[_NAME],
        ),
    },
    "/v1/burn-tables/{name}/versions": {
        "get": _op(
            "A burn table's versions, newest first",
            {
                "200": _json(
                    {
                        "type": "object",
                        "properties": {
                            "name": {"type": "string"},
                            "versions": {"type": "array", "items": _ref("BurnTableVersion")},
                            "next_cursor": {"type": ["string", "null"]},
                        },
                    }
                ),
                "404": _ERROR,
            },
            parameters=[_NAME, *_PAGE],
        )
    },
    "/v1/burn-tables/{name}/preview": {
        "post": _op(
            "What an event would cost, priced as the billing fold prices it, without sending it",
            {
                "200": _json(_ref("PricedEvent")),
                "404": _ERROR,
                "422": {
                    **_ERROR,
                    "description": "unpriced: no version in force at its time, or no rule matches",
                },
            },
            body="PricePreview",
            parameters=[_NAME],
        )
    },
}
