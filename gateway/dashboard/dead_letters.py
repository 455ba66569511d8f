"""The Dead letters pages: the tenant's refused events (counts by code, the list, a filter by code) and
one refused event inspected, with a dry run and a replay that are forms sent to
POST /v1/dead-letters/{id}/replay. They read what GET /v1/dead-letters reads, scoped to the tenant."""

from __future__ import annotations

from datetime import datetime
from urllib.parse import quote, urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from gateway.admin import dead_letters as api
from gateway.dashboard import views
from gateway.http import paging
from gateway.http.errors import ApiError
from gateway.http.responses import dumps
from gateway.services import services
from infra.worker_errors import worker_error_rates
from projections import dead_letters
from projections.login_sessions import LoginSession

PAGE = 50
STAGES = {"gateway.ingest": "Refused by the API", "billing.charge": "Refused while charging"}
# What to do about the most common refusals, in a sentence.
ADVICE = {
    "unpriced": "No burn-table rule priced this event. Publish a version with a rule for it, effective "
    "from before the event's time, then replay it.",
    "timestamp_out_of_window": "Events are accepted from 35 days back to 5 minutes ahead. An event sent "
    "early passes once its time comes; one too old cannot be charged.",
    "duplicate_id_conflict": "Another customer was already charged under this event id. Send the event "
    "again with an id of its own.",
}


def stage_label(stage: str) -> str:
    return STAGES.get(stage, stage)


def href(dead_letter_id: str) -> str:
    return "/dashboard/dead-letters/" + quote(dead_letter_id, safe="")


def _before(raw: str | None) -> tuple[datetime, str] | None:
    """A page's position from its `cursor`; an unreadable one starts from the newest."""
    try:
        return paging.time_and_text(raw) if raw else None
    except ApiError:
        return None


@views.page
async def list_page(request: Request, session: LoginSession) -> Response:
    pool = services(request).pool
    code = request.query_params.get("code") or None
    rows = await dead_letters.tenant_page(
        pool,
        session.tenant_id,
        code=code,
        stage=None,
        before=_before(request.query_params.get("cursor")),
        limit=PAGE + 1,
    )
    page, cursor = paging.page(rows, PAGE, lambda r: (r["first_failed_at"].isoformat(), r["dead_letter_id"]))
    counts = await dead_letters.tenant_counts(pool, session.tenant_id, stage=None)
    older = None
    if cursor:
        older = "/dashboard/dead-letters?" + urlencode({**({"code": code} if code else {}), "cursor": cursor})
    settings = services(request).settings
    workers = await worker_error_rates(settings.worker_metrics_port, settings.workers, timeout=1.0)
    context = {
        "workers": workers,
        "rows": [
            {**r, "href": href(r["dead_letter_id"]), "stage_label": stage_label(r["stage"])} for r in page
        ],
        "counts": counts,
        "total": sum(counts.values()),
        "code": code,
        "older": older,
        "codes_link": {c: "/dashboard/dead-letters?" + urlencode({"code": c}) for c in counts},
    }
    return views.render(request, "dead_letters/list.html", context)


@views.page
async def dead_letter_page(request: Request, session: LoginSession) -> Response:
    svc = services(request)
    dead_letter_id = request.path_params["dead_letter_id"]
    row = await dead_letters.tenant_get(svc.pool, session.tenant_id, dead_letter_id)
    if row is None:
        return views.not_found(request, "dead letter")
    shown = api.detail(svc, row)
    value = shown["value"]
    refused = api.refusal(row)
    context = {
        "d": shown,
        "stage_label": stage_label(row["stage"]),
        "advice": ADVICE.get(row["code"], ""),
        "value_text": value["text"]
        if value["format"] == "bytes"
        else dumps(value["decoded"], indent=True).decode(),
        "refusal": None if refused is None else refused.message,
        "api": "/v1/dead-letters/" + quote(dead_letter_id, safe="") + "/replay",
        "replayed_now": request.query_params.get("replayed") == "1",
    }
    return views.render(request, "dead_letters/dead_letter.html", context)


ROUTES: list[BaseRoute] = [
    Route("/dashboard/dead-letters", list_page, methods=["GET"]),
    Route("/dashboard/dead-letters/{dead_letter_id}", dead_letter_page, methods=["GET"]),
]
