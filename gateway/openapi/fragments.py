"""Building blocks of the OpenAPI document: value schemas, response and operation builders, parameters."""

from __future__ import annotations

from typing import Any

_DECIMAL = {"type": "string", "pattern": r"^-?\d+(\.\d{1,9})?$", "description": "exact decimal"}
_TIME = {"type": "string", "format": "date-time"}
_ERROR = {
    "description": "error",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
}

_RATE_LIMITED = {
    **_ERROR,
    "description": "rate_limited: over a rate limit; retry after Retry-After seconds",
    "headers": {"Retry-After": {"schema": {"type": "integer"}, "description": "seconds to wait"}},
}


def _json(schema: dict[str, Any], description: str = "ok") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


# Answers any operation may give: a bad request (a NUL in the path or query is refused before routing),
# and a database or broker that is busy or away (database_busy, unavailable, draining).
_ALWAYS = {"400": _ERROR, "503": {**_ERROR, "description": "busy or unavailable; retry after Retry-After"}}
# Answers any operation with a body may give: over 1 MiB, or a Content-Encoding other than gzip.
_BODY = {"413": _ERROR, "415": _ERROR}


def _errors(op: dict[str, Any], *, authenticated: bool = True) -> dict[str, Any]:
    """`op` with the error answers every operation (and every one with a body) may give."""
    errors = {
        **_ALWAYS,
        **({"401": _ERROR, "429": _RATE_LIMITED} if authenticated else {}),
    }  # 429: the key's rate
    if "requestBody" in op:
        errors.update(_BODY)
    return {**op, "responses": {**errors, **op["responses"]}}


def _op(summary: str, responses: dict[str, Any], body: str | None = None, **extra: Any) -> dict[str, Any]:
    op: dict[str, Any] = {"summary": summary, "responses": responses}
    if body:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": _ref(body)}}}
    op.update(extra)
    return _errors(op)


_CUSTOMER = {"name": "customer", "in": "path", "required": True, "schema": {"type": "string"}}
_PAGE = [
    {
        "name": "limit",
        "in": "query",
        "schema": {"type": "integer", "minimum": 1, "maximum": 500, "default": 50},
    },
    {"name": "cursor", "in": "query", "schema": {"type": "string"}},
]
_OPTIONAL_VOID = {"required": False, "content": {"application/json": {"schema": _ref("VoidRequest")}}}

# The exports' `format` and their bodies (gateway/http/exports.py).
_EXPORT_FORMAT = {
    "name": "format",
    "in": "query",
    "schema": {"enum": ["csv", "json", "jsonl"], "default": "json"},
}
_EXPORT_CONTENT = {
    "text/csv": {"schema": {"type": "string"}},
    "application/json": {"schema": {"type": "array", "items": {"type": "object"}}},
    "application/jsonl": {"schema": {"type": "string"}, "description": "one JSON object per line"},
}
