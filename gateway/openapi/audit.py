"""OpenAPI path of the tenant's audit log."""

from __future__ import annotations

from typing import Any

from gateway.openapi.fragments import _json, _op

PATHS: dict[str, Any] = {
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
}
