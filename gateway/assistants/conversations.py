"""Conversation history: GET /v1/conversations (newest first), one conversation with its messages, and a
streamed export of every message in a time range as CSV or a JSON array."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from gateway.http import exports, paging
from gateway.http.errors import not_found
from gateway.http.responses import json_response
from gateway.services import Services, caller
from projections.chat import conversations as store

PAGE_DEFAULT = 50
PAGE_MAX = 500
EXPORT_PAGE = 1000  # rows fetched per query while exporting: memory stays flat however long the range


def _limit(request: Request) -> int:
    return paging.limit(request, default=PAGE_DEFAULT, most=PAGE_MAX)


async def list_conversations(request: Request) -> Response:
    svc, who = await caller(request)
    since, until = exports.time_range(request)
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


async def export_conversations(request: Request) -> Response:
    svc, who = await caller(request)
    fmt = exports.export_format(request)
    since, until = exports.time_range(request)
    pages = _exported(svc, who.tenant_id, request.query_params.get("agent_id") or None, since, until)
    return exports.streamed(pages, store.EXPORT_COLUMNS, fmt, "conversations")
