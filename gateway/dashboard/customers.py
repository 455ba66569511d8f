"""The billing pages: the tenant's customers with their balances, and one customer's credits (balance,
grants, ledger, charges, alerts), entitlements and settings. They read through the projection queries
the API routes use; their forms (grant, void, set an entitlement, change settings, add a customer) send
JSON to the API itself."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from gateway.billing import credits, entitlements
from gateway.billing import customers as customers_api
from gateway.dashboard import usage, views
from gateway.http import paging
from gateway.http.errors import ApiError
from gateway.services import services
from pipeline.billing.entitlements import PERIODS
from pipeline.billing.ledger import ACTIVE
from pipeline.money import format_decimal
from projections.billing import customers as store
from projections.billing import reads
from projections.login_sessions import LoginSession

T = TypeVar("T")

CUSTOMERS_PAGE = 50
LEDGER_PAGE = 25
CHARGES_PAGE = 25
ALERTS_PAGE = 25


def _cursor(request: Request, name: str, decode: Callable[[str], T]) -> T | None:
    """A page position from the query; a link that was tampered with shows the first page instead."""
    raw = request.query_params.get(name)
    if not raw:
        return None
    try:
        return decode(raw)
    except ApiError:
        return None


def _link(path: str, anchor: str = "", **query: str) -> str:
    return path + (f"?{urlencode(query)}" if query else "") + (f"#{anchor}" if anchor else "")


@views.page
async def customers_page(request: Request, session: LoginSession) -> Response:
    svc = services(request)
    raw_prefix = request.query_params.get("prefix", "")
    try:
        prefix = customers_api.prefix(raw_prefix.strip())
    except ApiError as exc:
        return views.render(
            request, "customers/list.html", _list(raw_prefix, [], None, exc.message), status=400
        )
    after = _cursor(request, "cursor", customers_api.after)
    rows = await store.page(
        svc.pool,
        session.tenant_id,
        prefix=prefix,
        after=after,
        at=datetime.now(UTC),
        limit=CUSTOMERS_PAGE + 1,
    )
    shown, next_cursor = paging.page(rows, CUSTOMERS_PAGE, customers_api.next_position)
    query = {"prefix": prefix} if prefix else {}
    context = _list(prefix or "", shown, next_cursor and _link(request.url.path, cursor=next_cursor, **query))
    context["first_page"] = _link(request.url.path, **query) if after is not None else None
    return views.render(request, "customers/list.html", context)


def _list(prefix: str, rows: list[dict[str, Any]], next_page: str | None, error: str = "") -> dict[str, Any]:
    return {"prefix": prefix, "customers": rows, "next_page": next_page, "first_page": None, "error": error}


@dataclass(frozen=True, slots=True)
class LedgerWindow:
    """Entries with seq in (`start`, `end`], newest first; seqs run 1, 2, 3... per customer."""

    end: int
    start: int
    last: int  # the customer's newest entry

    @classmethod
    def of(cls, request: Request, last: int) -> LedgerWindow:
        raw = request.query_params.get("ledger", "")
        end = int(raw) if raw.isascii() and raw.isdigit() and 0 < int(raw) < last else last
        return cls(end=end, start=max(0, end - LEDGER_PAGE), last=last)

    @property
    def older(self) -> int | None:
        return self.start if self.start > 0 else None

    @property
    def newer(self) -> int | None:
        return None if self.end >= self.last else min(self.last, self.end + LEDGER_PAGE)


@views.page
async def customer_page(request: Request, session: LoginSession) -> Response:
    svc = services(request)
    tenant_id, name = session.tenant_id, request.path_params["customer"]
    known = await reads.customer(svc.pool, tenant_id, name)
    if known is None:
        return views.not_found(request, "customer")
    now = datetime.now(UTC)
    path = f"/dashboard/customers/{views.segment(name)}"

    window = LedgerWindow.of(request, known["ledger_seq"])
    ledger = await reads.ledger(
        svc.pool, tenant_id, name, after_seq=window.start, limit=window.end - window.start
    )

    charges_before = _cursor(request, "charges", paging.time_and_text)
    charge_rows = await reads.charges(
        svc.pool, tenant_id, name, before=charges_before, limit=CHARGES_PAGE + 1
    )
    charges, charges_next = paging.page(charge_rows, CHARGES_PAGE, credits.charge_position)

    alerts_after = _cursor(request, "alerts", credits.alert_after)
    alert_rows = await reads.alerts(svc.pool, tenant_id, name, after=alerts_after, limit=ALERTS_PAGE + 1)
    alerts, alerts_next = paging.page(alert_rows, ALERTS_PAGE, credits.alert_position)

    settings = await store.settings(svc.pool, tenant_id, name)
    assert settings is not None  # the customer's row exists
    granted = await reads.grants(svc.pool, tenant_id, name)
    listed = await reads.entitlements(svc.pool, tenant_id, name, periods=entitlements.periods(now))
    first, last = usage.window(usage.DEFAULT_RANGE)
    context = {
        "customer": name,
        "balance_chart": await usage.balance_chart(svc.pool, tenant_id, name, first, last),
        "chart_days": usage.DEFAULT_RANGE,
        "api": f"/v1/customers/{views.segment(name)}",  # where the page's forms send their writes
        "account": await reads.balance(svc.pool, tenant_id, name, now),
        "now": now,
        "grants": [{**g, "voidable": _voidable(g, now)} for g in granted],
        "entitlements": [entitlements.listed(row) for row in listed],
        "periods": PERIODS,
        "ledger": list(reversed(ledger)),
        "ledger_older": window.older and _link(path, "ledger", ledger=str(window.older)),
        "ledger_newer": window.newer and _link(path, "ledger", ledger=str(window.newer)),
        "charges": charges,
        "charges_next": charges_next and _link(path, "charges", charges=charges_next),
        "charges_first": charges_before and _link(path, "charges"),
        "alerts": alerts,
        "alerts_next": alerts_next and _link(path, "alerts", alerts=alerts_next),
        "alerts_first": alerts_after and _link(path, "alerts"),
        "settings": {
            "burn_table": settings.burn_table,
            "credit_limit": format_decimal(settings.credit_limit),
            "alert_thresholds": settings.alert_thresholds,
            "metadata": settings.metadata,
        },
    }
    return views.render(request, "customers/detail.html", context)


def _voidable(grant: dict[str, Any], now: datetime) -> bool:
    """Whether the API would void it now: active, and not past its expiry."""
    expires_at: datetime | None = grant["expires_at"]
    return grant["status"] == ACTIVE and (expires_at is None or expires_at > now)


ROUTES: list[BaseRoute] = [
    Route("/dashboard/customers", customers_page, methods=["GET"]),
    Route("/dashboard/customers/{customer}", customer_page, methods=["GET"]),
]
