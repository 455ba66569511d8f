"""Query parameters of paged listings, checked before they reach SQL: `limit` and cursor numbers."""

from __future__ import annotations

import re

from starlette.requests import Request

from gateway.errors import ApiError

MAX_BIGINT = 2**63 - 1  # what a PostgreSQL bigint holds
_DIGITS = re.compile(r"[0-9]{1,19}")  # ASCII digits only: str.isdigit() also takes "²", which int() refuses


def limit(request: Request, *, default: int, most: int) -> int:
    """The `limit` query parameter, from 1 to `most`; `default` when absent."""
    raw = request.query_params.get("limit")
    if raw is None:
        return default
    if not _DIGITS.fullmatch(raw) or not 1 <= int(raw) <= most:
        raise ApiError(400, "invalid_limit", f"limit must be an integer from 1 to {most}")
    return int(raw)


def invalid_cursor() -> ApiError:
    return ApiError(400, "invalid_cursor", "cursor is not one this API returned")


def is_position(value: object) -> bool:
    """True for a number a cursor may carry: an int from 0 to the largest bigint (never a bool)."""
    return type(value) is int and 0 <= value <= MAX_BIGINT


def number_cursor(raw: str) -> int:
    """A cursor that is a plain number (`0` to the largest bigint)."""
    if not _DIGITS.fullmatch(raw) or not is_position(int(raw)):
        raise invalid_cursor()
    return int(raw)


def text_in_cursor(value: object) -> str:
    """A string a cursor carries; PostgreSQL text cannot hold NUL, so a cursor with one is not ours."""
    if not isinstance(value, str) or "\x00" in value:
        raise invalid_cursor()
    return value
