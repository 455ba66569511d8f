"""GET /v1/calls (newest first; by agent, state, time, or only the failed ones), one call with its state
history and transcript, and a streamed export of the calls in a time range as CSV or a JSON array."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from gateway.http import exports, paging
from gateway.http.errors import ApiError, not_found
from gateway.http.responses import json_response
from gateway.services import Services, caller
from pipeline.voice import calls
from projections.voice import reads

PAGE_DEFAULT = 50
PAGE_MAX = 500
EXPORT_PAGE = 1000
# A failed call: it ended without the caller or the agent meaning it to, or never got to talk.
FAILED = sorted(calls.FAILURES)
EXPORT_COLUMNS = (
    "call_sid",
    "agent_id",
    "from_number",
    "to_number",
    "state",
    "started_at",
    "answered_at",
    "ended_at",
    "duration_seconds",
    "end_reason",
    "end_detail",
    "conversation_id",
)


def _filters(request: Request) -> dict[str, Any]:
    since, until = exports.time_range(request)
    state = request.query_params.get("state") or None
    if state is not None and state not in calls.RANK:
        raise ApiError(400, "invalid_state", f"state must be one of {', '.join(calls.STATES)}")
    failed = request.query_params.get("failed")
    if failed not in (None, "", "true", "false"):
        raise ApiError(400, "invalid_failed", "failed must be true or false")
    return {
        "agent_id": request.query_params.get("agent_id") or None,
        "state": state,
        "since": since,
        "until": until,
        "end_reasons": FAILED if failed == "true" else None,
    }


async def list_calls(request: Request) -> Response:
    svc, who = await caller(request)
    limit = paging.limit(request, default=PAGE_DEFAULT, most=PAGE_MAX)
    cursor = request.query_params.get("cursor")
    rows = await reads.page(
        svc.pool,
        who.tenant_id,
        **_filters(request),
        before=paging.time_and_text(cursor) if cursor else None,
        limit=limit + 1,
    )
    page, next_cursor = paging.page(rows, limit, lambda row: (row["started_at"].isoformat(), row["call_sid"]))
    return json_response({"calls": page, "next_cursor": next_cursor})


async def get_call(request: Request) -> Response:
    svc, who = await caller(request)
    call_sid = request.path_params["call_sid"]
    found = await reads.call(svc.pool, who.tenant_id, call_sid)
    if found is None:
        raise not_found("call")
    events = await reads.events(svc.pool, who.tenant_id, call_sid)
    transcript = await reads.transcript(svc.pool, who.tenant_id, found["conversation_id"], events)
    return json_response({**found, "events": events, "transcript": transcript})


async def _exported(
    svc: Services, tenant_id: str, filters: dict[str, Any]
) -> AsyncIterator[list[dict[str, Any]]]:
    before: tuple[datetime, str] | None = None
    while True:
        page = await reads.page(svc.pool, tenant_id, **filters, before=before, limit=EXPORT_PAGE)
        if page:
            yield page
        if len(page) < EXPORT_PAGE:
            return
        before = (page[-1]["started_at"], page[-1]["call_sid"])


async def export_calls(request: Request) -> Response:
    svc, who = await caller(request)
    fmt = exports.export_format(request)
    pages = _exported(svc, who.tenant_id, _filters(request))
    return exports.streamed(pages, EXPORT_COLUMNS, fmt, "calls")
