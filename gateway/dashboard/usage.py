"""The usage page: credits burned per day by customer and by type, the top customers, one customer's
balance over time and conversations per day per agent, over the last 7, 30 or 90 UTC days. Credits come
from the daily rollup, balances from the ledger, conversations from their projection."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import asyncpg
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from gateway.dashboard import charts, views
from gateway.services import services
from projections import analytics_reads as reads
from projections.billing import customers as customer_store
from projections.billing.reads import customer as find_customer
from projections.login_sessions import LoginSession

RANGES = (7, 30, 90)
DEFAULT_RANGE = 30
TOP_SERIES = 5  # lines per chart before the rest are summed as one
TOP_CUSTOMERS = 10
CREDITS = "credits"


def days_of(request: Request) -> int:
    """The range asked for; anything else (a tampered link) shows the default."""
    raw = request.query_params.get("days", "")
    return int(raw) if raw.isdigit() and int(raw) in RANGES else DEFAULT_RANGE


def window(days: int) -> tuple[date, date]:
    """The last `days` UTC days, today included."""
    last = datetime.now(UTC).date()
    return last - timedelta(days=days - 1), last


async def balance_chart(
    pool: asyncpg.Pool, tenant_id: str, customer: str, first: date, last: date
) -> charts.DailyChart:
    opening, closing = await reads.balance_by_day(pool, tenant_id, customer, first, last)
    return charts.carried(charts.span(first, last), "Balance", opening, closing, CREDITS)


@views.page
async def usage_page(request: Request, session: LoginSession) -> Response:
    pool, tenant_id = services(request).pool, session.tenant_id
    days = days_of(request)
    first, last = window(days)
    span = charts.span(first, last)

    by_customer = await reads.credits_by_day(pool, tenant_id, first, last, by="customer", top=TOP_SERIES)
    by_type = await reads.credits_by_day(pool, tenant_id, first, last, by="type", top=TOP_SERIES)
    top = await reads.top_customers(pool, tenant_id, first, last, limit=TOP_CUSTOMERS)
    conversations = await reads.conversations_by_day(pool, tenant_id, first, last)
    labels = charts.agent_labels((agent_id, name) for _, agent_id, name, _ in conversations)

    asked = request.query_params.get("customer", "").strip()
    customer = asked or (top[0][0] if top else await _any_customer(pool, tenant_id))
    known = bool(customer) and await find_customer(pool, tenant_id, customer) is not None
    balance = await balance_chart(pool, tenant_id, customer, first, last) if known else None

    context = {
        "days": days,
        "ranges": RANGES,
        "first": first,
        "last": last,
        "by_customer": charts.per_day(
            span, by_customer, unit=CREDITS, top=TOP_SERIES, others="Other customers"
        ),
        "by_type": charts.per_day(span, by_type, unit=CREDITS, top=TOP_SERIES, others="Other types"),
        "top": charts.BarChart(tuple((name, credits) for name, credits, _ in top), CREDITS),
        "top_events": {name: events for name, _, events in top},
        "customer": customer,
        "customer_known": known,
        "balance": balance,
        "conversations": charts.per_day(
            span,
            ((day, agent_id, Decimal(n)) for day, agent_id, _, n in conversations),
            unit="conversations",
            top=TOP_SERIES,
            others="Other agents",
            label=lambda agent_id: labels[agent_id],
        ),
    }
    return views.render(request, "usage/page.html", context)


async def _any_customer(pool: asyncpg.Pool, tenant_id: str) -> str:
    """The tenant's first customer by name, for a balance to show before any usage; '' when it has none."""
    rows = await customer_store.page(pool, tenant_id, prefix=None, after=None, at=datetime.now(UTC), limit=1)
    return str(rows[0]["customer"]) if rows else ""


ROUTES: list[BaseRoute] = [Route("/dashboard/usage", usage_page, methods=["GET"])]
