"""Paged listings: the `limit` parameter, and cursors, checked before they reach SQL.

A cursor is the position of the last row of a page, as JSON in unpadded URL-safe base64: opaque to
clients, and refused with 400 `invalid_cursor` when it is not one this API returned.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar

import orjson
from starlette.requests import Request

from gateway.http.errors import ApiError

Row = TypeVar("Row")

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


def encode(*position: object) -> str:
    """The cursor of a position (the sort key of a page's last row)."""
    return base64.urlsafe_b64encode(orjson.dumps(position)).decode().rstrip("=")


def decode(raw: str, length: int) -> list[Any]:
    """The position a cursor holds: a JSON array of `length` items."""
    try:
        position = orjson.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
    except (ValueError, TypeError, binascii.Error) as exc:
        raise invalid_cursor() from exc
    if not isinstance(position, list) or len(position) != length:
        raise invalid_cursor()
    return position


def time_and_text(raw: str) -> tuple[datetime, str]:
    """A cursor holding a time with its zone and an id: the position in a newest-first listing."""
    at, text = decode(raw, 2)
    try:
        value = datetime.fromisoformat(at)
    except (ValueError, TypeError) as exc:
        raise invalid_cursor() from exc
    if value.tzinfo is None:
        raise invalid_cursor()
    return value, text_in_cursor(text)


def page(
    rows: Sequence[Row], limit: int, position: Callable[[Row], tuple[object, ...]]
) -> tuple[list[Row], str | None]:
    """The first `limit` of `rows` (fetched with one more than `limit`) and the cursor of the next page,
    None on the last one."""
    shown = list(rows[:limit])
    return shown, encode(*position(shown[-1])) if len(rows) > limit else None
