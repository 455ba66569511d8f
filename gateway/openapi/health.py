"""OpenAPI paths of the liveness and readiness probes."""

from __future__ import annotations

from typing import Any

from gateway.openapi.fragments import _ERROR

PATHS: dict[str, Any] = {
    "/healthz": {
        "get": {
            "summary": "Liveness",
            "security": [],
            "responses": {"200": {"description": "alive"}, "400": _ERROR},
        }
    },
    "/readyz": {
        "get": {
            "summary": "Readiness (database and broker reachable)",
            "security": [],
            "responses": {"200": {"description": "ready"}, "400": _ERROR, "503": _ERROR},
        }
    },
}
