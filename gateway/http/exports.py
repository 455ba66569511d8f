"""Streamed exports (CSV, a JSON array or JSON lines, page by page: memory stays flat however long the
range) and the `since`/`until` range every listing and export takes."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

import asyncpg
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from gateway.http.errors import ApiError
from gateway.http.responses import dumps
from pipeline.money import format_decimal

Pages = AsyncIterator[list[dict[str, Any]]]

# Cells a spreadsheet would evaluate as a formula (OWASP's list for CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
FORMATS = {"csv": "text/csv; charset=utf-8", "json": "application/json", "jsonl": "application/jsonl"}
PAGE_ROWS = 1000  # rows a cursor fetches at a time: one body chunk each


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
        raise ApiError(400, "invalid_format", "format must be csv, json or jsonl")
    return fmt


def _cell(value: Any) -> Any:
    """A CSV cell: empty for NULL; times, decimals and JSON values exactly as the JSON export writes them."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return dumps(value)[1:-1].decode()
    if isinstance(value, Decimal):
        return format_decimal(value)
    if isinstance(value, dict | list):
        return dumps(value).decode()  # starts with { or [: never a formula
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


async def _json_lines(pages: Pages, columns: Sequence[str]) -> AsyncIterator[bytes]:
    async for page in pages:
        yield b"".join(dumps({c: row[c] for c in columns}) + b"\n" for row in page)


_WRITERS = {"csv": _csv, "json": _json_array, "jsonl": _json_lines}


async def cursor_pages(pool: asyncpg.Pool, query: str, *args: Any) -> Pages:
    """The query's rows page by page through a server-side cursor, in one read-only snapshot.

    The first page is read before this returns, so a query that fails (or a busy pool) is answered as an
    error rather than a cut-off body; the connection is held until the last page is sent.
    """

    async def pages() -> Pages:
        async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
            cursor = await conn.cursor(query, *args)
            yield [dict(r) for r in await cursor.fetch(PAGE_ROWS)]
            while rows := await cursor.fetch(PAGE_ROWS):
                yield [dict(r) for r in rows]

    stream = pages()
    first = await anext(stream)

    async def primed() -> Pages:
        try:
            if first:
                yield first
            async for page in stream:
                yield page
        finally:
            await stream.aclose()

    return primed()


def streamed(pages: Pages, columns: Sequence[str], fmt: str, name: str) -> Response:
    """The pages' rows (only `columns`) as an attachment `<name>.<fmt>`."""
    body = _WRITERS[fmt](pages, columns)
    return StreamingResponse(
        body, media_type=FORMATS[fmt], headers={"Content-Disposition": f'attachment; filename="{name}.{fmt}"'}
    )
