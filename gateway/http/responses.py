"""JSON responses rendered with orjson; decimals as strings, times as RFC 3339."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import orjson
from starlette.responses import Response

from pipeline.money import format_decimal


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format_decimal(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def dumps(value: Any, *, indent: bool = False) -> bytes:
    """JSON as the API answers it; `indent` for people to read (the dashboard's pages)."""
    return orjson.dumps(
        value, default=_default, option=orjson.OPT_UTC_Z | (orjson.OPT_INDENT_2 if indent else 0)
    )


def json_response(value: Any, *, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(dumps(value), status_code=status, headers=headers, media_type="application/json")
