"""Streamed exports (CSV or a JSON array, page by page: memory stays flat however long the range) and
the `since`/`until` range every listing and export takes."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from gateway.http.errors import ApiError
from gateway.http.responses import dumps

Pages = AsyncIterator[list[dict[str, Any]]]

# Cells a spreadsheet would evaluate as a formula (OWASP's list for CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
FORMATS = {"csv": "text/csv; charset=utf-8", "json": "application/json"}


def _time(request: Request, name: str) -> datetime | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = datetime.fromisoformat(raw)
    except ValueError as exc:
        raise ApiError(400, "invalid_time", f"{name} is not an RFC 3339 time: {raw!r}") from exc
    if value.tzinfo is None:
        raise ApiError(400, "invalid_time", f"{name} needs a time zone offset (e.g. Z)")
    return value


def time_range(request: Request) -> tuple[datetime | None, datetime | None]:
    """`since` (inclusive) and `until` (exclusive) from the query."""
    since, until = _time(request, "since"), _time(request, "until")
    if since is not None and until is not None and since > until:
        raise ApiError(400, "invalid_time", "since must not be after until")
    return since, until


def export_format(request: Request) -> str:
    fmt = request.query_params.get("format", "json")
    if fmt not in FORMATS:
        raise ApiError(400, "invalid_format", "format must be csv or json")
    return fmt


def _cell(value: Any) -> Any:
    """A CSV cell: empty for NULL, times exactly as the JSON export writes them."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return dumps(value)[1:-1].decode()
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        # Visitors and callers write these: a leading quote keeps a spreadsheet from running one as a formula.
        return "'" + value
    return value


async def _csv(pages: Pages, columns: Sequence[str]) -> AsyncIterator[bytes]:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(columns)
    yield out.getvalue().encode()
    async for page in pages:
        out.seek(0)
        out.truncate()
        writer.writerows([_cell(row[c]) for c in columns] for row in page)
        yield out.getvalue().encode()


async def _json_array(pages: Pages, columns: Sequence[str]) -> AsyncIterator[bytes]:
    yield b"["
    separator = b""
    async for page in pages:
        yield separator + b",".join(dumps({c: row[c] for c in columns}) for row in page)
        separator = b","
    yield b"]"


def streamed(pages: Pages, columns: Sequence[str], fmt: str, name: str) -> Response:
    """The pages' rows (only `columns`) as an attachment `<name>.<fmt>`."""
    body = _csv(pages, columns) if fmt == "csv" else _json_array(pages, columns)
    return StreamingResponse(
        body, media_type=FORMATS[fmt], headers={"Content-Disposition": f'attachment; filename="{name}.{fmt}"'}
    )
