"""GET /v1/audit: the tenant's audit log, oldest first, filtered by target, action and time."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from gateway.errors import ApiError
from gateway.responses import json_response
from gateway.services import caller
from pipeline import validation
from projections import audit

PAGE_DEFAULT = 100
PAGE_MAX = 1000


async def get_audit(request: Request) -> Response:
    svc, who = await caller(request)
    q = request.query_params
    since = validation.timestamp(q["since"], "since") if "since" in q else None
    raw_limit, raw_cursor = q.get("limit", str(PAGE_DEFAULT)), q.get("cursor", "0")
    if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= PAGE_MAX:
        raise ApiError(400, "invalid_limit", f"limit must be an integer from 1 to {PAGE_MAX}")
    if not raw_cursor.isdigit():
        raise ApiError(400, "invalid_cursor", "cursor is not one this API returned")
    limit = int(raw_limit)
    rows = await audit.page(
        svc.pool,
        who.tenant_id,
        target=q.get("target"),
        action=q.get("action"),
        since=since,
        after_seq=int(raw_cursor),
        limit=limit + 1,
    )
    entries = rows[:limit]
    return json_response(
        {"entries": entries, "next_cursor": str(entries[-1]["seq"]) if len(rows) > limit else None}
    )
