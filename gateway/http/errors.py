"""API errors: JSON with a stable `code` and a readable `message`, never a stack trace."""

from __future__ import annotations

import logging

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from gateway.http.responses import json_response
from pipeline.errors import RevosError, TransientError, ValidationError
from projections.db import PoolExhausted
from projections.retryable import is_retryable

log = logging.getLogger(__name__)

_HTTP_CODES = {404: "not_found", 405: "method_not_allowed"}


class ApiError(RevosError):
    """An error answered as-is: HTTP status, stable code, message, and optional headers."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message, code=code)
        self.status = status
        self.headers = headers or {}


def not_found(what: str) -> ApiError:
    return ApiError(404, f"{what}_not_found", f"no such {what.replace('_', ' ')}")


def error_response(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
    body: dict[str, object] = {"error": {"code": code, "message": message}}
    return json_response(body, status=status, headers=headers)


async def handle_revos_error(request: Request, exc: Exception) -> Response:
    if isinstance(exc, ApiError):
        return error_response(exc.status, exc.code, exc.message, exc.headers)
    if isinstance(exc, ValidationError):
        return error_response(400, exc.code, exc.message)
    if isinstance(exc, PoolExhausted):
        return error_response(503, exc.code, "the database is busy; retry shortly", {"Retry-After": "1"})
    if isinstance(exc, TransientError):
        return error_response(
            503, exc.code, "a backing service is unavailable; retry later", {"Retry-After": "2"}
        )
    assert isinstance(exc, RevosError)
    log.error("unhandled %s on %s: %s", type(exc).__name__, request.url.path, exc.message)
    return error_response(500, "internal", "internal error")


async def handle_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    return error_response(exc.status_code, code, str(exc.detail), dict(exc.headers or {}))


async def handle_unexpected(request: Request, exc: Exception) -> Response:
    if is_retryable(exc):  # the database or broker went away mid-request: the client should retry
        log.warning("%s on %s %s: %s", type(exc).__name__, request.method, request.url.path, exc)
        return error_response(
            503, "unavailable", "a backing service is unavailable; retry later", {"Retry-After": "2"}
        )
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    return error_response(500, "internal", "internal error")
