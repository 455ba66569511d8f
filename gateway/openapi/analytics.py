"""OpenAPI schemas and paths of usage totals per window and the exports of charges, ledger and usage."""

from __future__ import annotations

from typing import Any

from gateway.openapi.fragments import _DECIMAL, _EXPORT_CONTENT, _EXPORT_FORMAT, _TIME, _json, _op, _ref

_TYPES = {"type": "array", "items": {"type": "string"}}

_USAGE_PARAMETERS = [
    {"name": "customer", "in": "query", "schema": {"type": "string"}},
    {
        "name": "type",
        "in": "query",
        "schema": _TYPES,
        "style": "form",
        "explode": True,
        "description": "event types: repeat the parameter or give a comma list",
    },
    {"name": "from", "in": "query", "schema": _TIME, "description": "default: 30 days before to"},
    {"name": "to", "in": "query", "schema": _TIME, "description": "exclusive; default: now"},
    {"name": "window", "in": "query", "schema": {"enum": ["hour", "day", "month"], "default": "day"}},
    {
        "name": "group_by",
        "in": "query",
        "schema": {"type": "string"},
        "description": "comma list of customer, type and property.<name>",
    },
]

_EXPORT_PARAMETERS = [
    _EXPORT_FORMAT,
    {"name": "customer", "in": "query", "schema": {"type": "string"}},
    {"name": "since", "in": "query", "schema": _TIME, "description": "inclusive"},
    {"name": "until", "in": "query", "schema": _TIME, "description": "exclusive"},
]


def _export(summary: str, columns: str, extra: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "get": _op(
            summary + ", streamed as CSV (with a header row), a JSON array or JSON lines",
            {
                "200": {
                    "description": columns,
                    "content": _EXPORT_CONTENT,
                }
            },
            parameters=[*_EXPORT_PARAMETERS, *(extra or [])],
        )
    }


SCHEMAS: dict[str, Any] = {
    "UsageTotals": {
        "type": "object",
        "required": ["window", "from", "to", "group_by", "source", "data"],
        "properties": {
            "window": {"enum": ["hour", "day", "month"]},
            "from": {**_TIME, "description": "the requested from, rounded down to a window start"},
            "to": {**_TIME, "description": "the requested to, rounded up to a window start"},
            "group_by": {"type": "array", "items": {"type": "string"}},
            "source": {"enum": ["rollup", "charges"]},
            "data": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "start": _TIME,
                        "end": _TIME,
                        "group": {"type": "object", "additionalProperties": {"type": ["string", "null"]}},
                        "events": {"type": "integer"},
                        "quantity": _DECIMAL,
                        "credits": _DECIMAL,
                        "cost": _DECIMAL,
                    },
                },
            },
        },
    },
}

PATHS: dict[str, Any] = {
    "/v1/usage": {
        "get": _op(
            "Usage, credits and cost per window (and group), voided usage left out",
            {"200": _json(_ref("UsageTotals"))},
            parameters=_USAGE_PARAMETERS,
            description="Filter on event properties with `property.<name>=<value>` (repeat for any of "
            "several values) and group by them with `group_by=property.<name>`: only properties some rule "
            "of the tenant's burn tables matches on (400 `property_not_filterable` otherwise). Answered "
            "from the hourly and daily rollups (`source: rollup`) unless properties are involved, then "
            "from the charges (`source: charges`).",
        )
    },
    "/v1/usage/export": _export(
        "Usage per hour or day, customer and type for the windows starting in [since, until)",
        "start, customer, type, events, quantity, credits, cost per row",
        [{"name": "window", "in": "query", "schema": {"enum": ["hour", "day"], "default": "day"}}],
    ),
    "/v1/charges/export": _export(
        "Every charge whose event time is in [since, until), voided ones too, by customer and event time",
        "customer, event_id, type, quantity, credits, cost, status, burn_table, burn_table_version, "
        "event_time, received_at, properties per charge",
    ),
    "/v1/ledger/export": _export(
        "Every ledger entry whose time is in [since, until), by customer and sequence number",
        "customer, seq, kind, amount, balance, reference, at, detail, recorded_at per entry",
    ),
}
