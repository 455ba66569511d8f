"""Conversation history: GET /v1/conversations (newest first), one conversation with its messages, and a
streamed export of every message in a time range as CSV or a JSON array."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from gateway.http import paging
from gateway.http.errors import ApiError, not_found
from gateway.http.responses import dumps, json_response
from gateway.services import Services, caller
from projections.chat import conversations as store

PAGE_DEFAULT = 50
PAGE_MAX = 500
EXPORT_PAGE = 1000  # rows fetched per query while exporting: memory stays flat however long the range
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


def _range(request: Request) -> tuple[datetime | None, datetime | None]:
    """`since` (inclusive) and `until` (exclusive) from the query."""
    since, until = _time(request, "since"), _time(request, "until")
    if since is not None and until is not None and since > until:
        raise ApiError(400, "invalid_time", "since must not be after until")
    return since, until


def _limit(request: Request) -> int:
    return paging.limit(request, default=PAGE_DEFAULT, most=PAGE_MAX)


async def list_conversations(request: Request) -> Response:
    svc, who = await caller(request)
    since, until = _range(request)
    limit = _limit(request)
    cursor = request.query_params.get("cursor")
    rows = await store.page(
        svc.pool,
        who.tenant_id,
        agent_id=request.query_params.get("agent_id") or None,
        since=since,
        until=until,
        before=paging.time_and_text(cursor) if cursor else None,
        limit=limit + 1,
    )
    page, next_cursor = paging.page(
        rows, limit, lambda row: (row["started_at"].isoformat(), row["conversation_id"])
    )
    return json_response({"conversations": page, "next_cursor": next_cursor})


async def get_conversation(request: Request) -> Response:
    svc, who = await caller(request)
    conversation_id = request.path_params["conversation_id"]
    found = await store.conversation(svc.pool, who.tenant_id, conversation_id)
    if found is None:
        raise not_found("conversation")
    messages = await store.messages(svc.pool, who.tenant_id, conversation_id)
    return json_response({**found, "messages": messages})


async def _exported(
    svc: Services, tenant_id: str, agent_id: str | None, since: datetime | None, until: datetime | None
) -> AsyncIterator[list[dict[str, Any]]]:
    """The range's messages, page by page, oldest first."""
    after: tuple[datetime, str, int] | None = None
    while True:
        page = await store.export_page(
            svc.pool, tenant_id, agent_id=agent_id, since=since, until=until, after=after, limit=EXPORT_PAGE
        )
        if page:
            yield page
        if len(page) < EXPORT_PAGE:
            return
        last = page[-1]
        after = (last["occurred_at"], last["conversation_id"], last["seq"])


def _cell(value: Any) -> Any:
    """A CSV cell: empty for NULL, times exactly as the JSON export writes them."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return dumps(value)[1:-1].decode()
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        # Visitors write these messages: a leading quote keeps a spreadsheet from running one as a formula.
        return "'" + value
    return value


async def _csv(pages: AsyncIterator[list[dict[str, Any]]]) -> AsyncIterator[bytes]:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(store.EXPORT_COLUMNS)
    yield out.getvalue().encode()
    async for page in pages:
        out.seek(0)
        out.truncate()
        writer.writerows([_cell(row[c]) for c in store.EXPORT_COLUMNS] for row in page)
        yield out.getvalue().encode()


async def _json_array(pages: AsyncIterator[list[dict[str, Any]]]) -> AsyncIterator[bytes]:
    yield b"["
    separator = b""
    async for page in pages:
        yield separator + b",".join(dumps({c: row[c] for c in store.EXPORT_COLUMNS}) for row in page)
        separator = b","
    yield b"]"


async def export_conversations(request: Request) -> Response:
    svc, who = await caller(request)
    fmt = request.query_params.get("format", "json")
    if fmt not in FORMATS:
        raise ApiError(400, "invalid_format", "format must be csv or json")
    since, until = _range(request)
    pages = _exported(svc, who.tenant_id, request.query_params.get("agent_id") or None, since, until)
    body = _csv(pages) if fmt == "csv" else _json_array(pages)
    return StreamingResponse(
        body,
        media_type=FORMATS[fmt],
        headers={"Content-Disposition": f'attachment; filename="conversations.{fmt}"'},
    )
