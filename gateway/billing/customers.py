"""PUT and GET /v1/customers/{customer}: the burn table that prices a customer, its credit limit, metadata."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import asyncpg
from starlette.requests import Request
from starlette.responses import Response

from gateway.http.body import read_json
from gateway.http.errors import not_found
from gateway.http.responses import json_response
from gateway.services import caller
from gateway.writes import audit_entry
from pipeline.billing.validation import customers as customer_validation
from pipeline.money import format_decimal
from pipeline.publishing import Outgoing
from pipeline.records import CustomerUpdated
from pipeline.topics import BILLING, customer_key

SETTINGS = """
SELECT burn_table, credit_limit, metadata, alert_thresholds, settings_event_id
FROM customers WHERE tenant_id = $1 AND customer = $2
"""
APPLIED = "SELECT 1 FROM customers WHERE tenant_id = $1 AND customer = $2 AND settings_event_id = $3"


def _json(customer: str, s: CustomerUpdated) -> dict[str, Any]:
    return {
        "customer": customer,
        "burn_table": s.burn_table,
        "credit_limit": s.credit_limit,
        "metadata": s.metadata,
        "alert_thresholds": s.alert_thresholds,
    }


async def _current(pool: asyncpg.Pool, tenant_id: str, customer: str) -> CustomerUpdated | None:
    row = await pool.fetchrow(SETTINGS, tenant_id, customer)
    if row is None:
        return None
    return CustomerUpdated(
        "",
        tenant_id,
        customer,
        row["burn_table"],
        row["credit_limit"],
        row["metadata"],
        "",
        datetime.now(UTC),
        [format_decimal(t) for t in sorted(row["alert_thresholds"], reverse=True)],
    )


async def put_customer(request: Request) -> Response:
    svc, who = await caller(request)
    customer = request.path_params["customer"]
    body = await read_json(request)
    current = await _current(svc.pool, who.tenant_id, customer)
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
    applied = await svc.writer.write(
        [Outgoing(BILLING, svc.codec.encode(updated), key=customer_key(who.tenant_id, customer))],
        [trail],
        APPLIED,
        who.tenant_id,
        customer,
        updated.event_id,
    )
    return json_response(
        {**_json(customer, updated), "status": "applied" if applied else "pending"},
        status=200 if applied else 202,
    )


async def get_customer(request: Request) -> Response:
    svc, who = await caller(request)
    customer = request.path_params["customer"]
    current = await _current(svc.pool, who.tenant_id, customer)
    if current is None:
        raise not_found("customer")
    return json_response(_json(customer, current))
