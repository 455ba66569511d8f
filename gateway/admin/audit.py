"""GET /v1/audit: the tenant's audit log, oldest first, filtered by target, action and time."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from gateway.http import paging
from gateway.http.responses import json_response
from gateway.services import caller
from pipeline import validation
from projections import audit

PAGE_DEFAULT = 100
PAGE_MAX = 1000


async def get_audit(request: Request) -> Response:
    svc, who = await caller(request)
    q = request.query_params
    since = validation.timestamp(q["since"], "since") if "since" in q else None
    limit = paging.limit(request, default=PAGE_DEFAULT, most=PAGE_MAX)
    after_seq = paging.number_cursor(q.get("cursor", "0"))
    rows = await audit.page(
        svc.pool,
        who.tenant_id,
        target=q.get("target"),
        action=q.get("action"),
        since=since,
        after_seq=after_seq,
        limit=limit + 1,
    )
    entries = rows[:limit]
    return json_response(
        {"entries": entries, "next_cursor": str(entries[-1]["seq"]) if len(rows) > limit else None}
    )
