"""GET /v1/customers, the tenant's customers with their balances; PUT and GET /v1/customers/{customer}:
the burn table that prices a customer, its credit limit, metadata and alert thresholds."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from gateway.http import paging
from gateway.http.body import read_json
from gateway.http.errors import ApiError, not_found
from gateway.http.responses import json_response
from gateway.services import caller
from gateway.writes import audit_entry
from pipeline.billing.validation import customers as customer_validation
from pipeline.records import CustomerUpdated
from pipeline.validation import MAX_ID
from projections.billing import customers as store

PAGE_DEFAULT = 50
PAGE_MAX = 500


def _json(customer: str, s: CustomerUpdated) -> dict[str, Any]:
    return {
        "customer": customer,
        "burn_table": s.burn_table,
        "credit_limit": s.credit_limit,
        "metadata": s.metadata,
        "alert_thresholds": s.alert_thresholds,
    }


async def put_customer(request: Request) -> Response:
    svc, who = await caller(request)
    customer = request.path_params["customer"]
    body = await read_json(request)
    current = await store.settings(svc.pool, who.tenant_id, customer)
    actor = who.actor
    now = datetime.now(UTC)
    updated = customer_validation.customer_settings(
        body, tenant_id=who.tenant_id, customer=customer, current=current, actor=actor, now=now
    )
    trail = audit_entry(
        request,
        who,
        action="customer.update",
        target=f"customer:{customer}",
        before=None if current is None else _json(customer, current),
        after=_json(customer, updated),
        now=now,
    )
    await svc.writer.publish([svc.writer.to_customer(updated)], [trail])
    applied = await svc.writer.wait(store.APPLIED, who.tenant_id, customer, updated.event_id)
    return json_response(
        {**_json(customer, updated), "status": "applied" if applied else "pending"},
        status=200 if applied else 202,
    )


async def get_customer(request: Request) -> Response:
    svc, who = await caller(request)
    customer = request.path_params["customer"]
    current = await store.settings(svc.pool, who.tenant_id, customer)
    if current is None:
        raise not_found("customer")
    return json_response(_json(customer, current))


def prefix(raw: str | None) -> str | None:
    """The `prefix` filter: None (every customer) when absent or empty."""
    if not raw:
        return None
    if len(raw) > MAX_ID:
        raise ApiError(400, "invalid_prefix", f"prefix is longer than {MAX_ID} characters")
    return raw


def after(cursor: str) -> str:
    """The customer id a cursor of this listing holds: the last one of the previous page."""
    (customer,) = paging.decode(cursor, 1)
    return paging.text_in_cursor(customer)


def next_position(row: dict[str, Any]) -> tuple[str]:
    return (row["customer"],)


async def list_customers(request: Request) -> Response:
    """The tenant's customers by id, each with its balance now, debt and last activity."""
    svc, who = await caller(request)
    limit = paging.limit(request, default=PAGE_DEFAULT, most=PAGE_MAX)
    cursor = request.query_params.get("cursor")
    now = datetime.now(UTC)
    rows = await store.page(
        svc.pool,
        who.tenant_id,
        prefix=prefix(request.query_params.get("prefix")),
        after=after(cursor) if cursor else None,
        at=now,
        limit=limit + 1,
    )
    page, next_cursor = paging.page(rows, limit, next_position)
    return json_response({"customers": page, "as_of": now, "next_cursor": next_cursor})
