"""Usage totals per window (GET /v1/usage) and the streamed exports of the charges, the ledger and the
usage rollups (GET /v1/charges/export, /v1/ledger/export, /v1/usage/export)."""

from __future__ import annotations

from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import Response

from gateway.http import exports
from gateway.http.errors import ApiError
from gateway.http.responses import json_response
from gateway.services import caller
from pipeline.billing import usage_query
from projections.billing import exports as billing_exports
from projections.billing import usage

MAX_ROWS = 10_000  # rows (windows times groups) answered at most; past that the caller narrows the query


async def get_usage(request: Request) -> Response:
    svc, who = await caller(request)
    query = usage_query.parse(request.query_params.multi_items(), datetime.now(UTC))
    if query.property_names:
        usage_query.check_properties(query, await usage.filterable(svc.pool, who.tenant_id))
    rows = await usage.totals(svc.pool, who.tenant_id, query, MAX_ROWS + 1)
    if len(rows) > MAX_ROWS:
        raise ApiError(
            400,
            "too_many_rows",
            f"the answer would have more than {MAX_ROWS} rows; narrow the range, filter, or group by less",
        )
    data = [
        {
            "start": start,
            "end": usage_query.following(start, query.window),
            "group": dict(zip(query.group_by, groups, strict=True)),
            "events": events,
            "quantity": quantity,
            "credits": credits,
            "cost": cost,
        }
        for start, groups, events, quantity, credits, cost in rows
    ]
    return json_response(
        {
            "window": query.window,
            "from": query.start,
            "to": query.end,
            "group_by": list(query.group_by),
            "source": query.source,
            "data": data,
        }
    )


async def _export(request: Request, name: str) -> Response:
    svc, who = await caller(request)
    fmt = exports.export_format(request)
    since, until = exports.time_range(request)
    customer = request.query_params.get("customer") or None
    if name == "usage":
        window = request.query_params.get("window", "day")
        if window not in billing_exports.USAGE:
            raise ApiError(400, "invalid_window", "window must be hour or day")
        text, columns = billing_exports.USAGE[window], billing_exports.USAGE_COLUMNS
        since, until = billing_exports.window_range(window, since, until)
    else:
        text, columns = billing_exports.QUERIES[name]
    pages = await exports.cursor_pages(svc.pool, text, who.tenant_id, since, until, customer)
    return exports.streamed(pages, columns, fmt, name)


async def export_charges(request: Request) -> Response:
    return await _export(request, "charges")


async def export_ledger(request: Request) -> Response:
    return await _export(request, "ledger")


async def export_usage(request: Request) -> Response:
    return await _export(request, "usage")
