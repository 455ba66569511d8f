"""A customer's credits: grants and their voids, the balance, the charges, the ledger of every movement
and the balance alerts. Writes answer after the projection applied them."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from gateway.http import paging
from gateway.http.body import read_json
from gateway.http.errors import ApiError, not_found
from gateway.http.responses import json_response
from gateway.services import Services, caller
from gateway.writes import audit_entry
from pipeline.billing.ledger import ACTIVE, EXPIRED, VOIDED
from pipeline.billing.validation import corrections as corrections_validation
from pipeline.billing.validation import grants as grant_validation
from pipeline.errors import ValidationError
from pipeline.money import format_decimal, parse_decimal
from projections.billing import reads

PAGE_DEFAULT = 50
PAGE_MAX = 500


def _grant_json(customer: str, row: dict[str, Any]) -> dict[str, Any]:
    return {"customer": customer, **row}


async def post_grant(request: Request) -> Response:
    svc, who = await caller(request)
    customer = request.path_params["customer"]
    body = await read_json(request)
    granted = grant_validation.grant(
        body, tenant_id=who.tenant_id, customer=customer, actor=who.actor, now=datetime.now(UTC)
    )
    existing = await reads.grant(svc.pool, who.tenant_id, customer, granted.grant_id)
    if existing is not None:
        return json_response(_grant_json(customer, existing), status=200)  # idempotent repeat
    trail = audit_entry(
        request,
        who,
        action="grant.create",
        target=f"customer:{customer}/grant:{granted.grant_id}",
        before=None,
        after={
            "grant_id": granted.grant_id, "amount": granted.amount, "priority": granted.priority,
            "effective_at": granted.effective_at, "expires_at": granted.expires_at, "reason": granted.reason,
        },
        now=granted.occurred_at,
    )  # fmt: skip
    await svc.writer.publish([svc.writer.to_customer(granted)], [trail])
    applied = await svc.writer.wait(reads.GRANT_EXISTS, who.tenant_id, customer, granted.grant_id)
    row = await reads.grant(svc.pool, who.tenant_id, customer, granted.grant_id) if applied else None
    if row is None:
        return json_response(
            {
                "customer": customer,
                "grant_id": granted.grant_id,
                "amount": granted.amount,
                "status": "pending",
            },
            status=202,
        )
    return json_response(_grant_json(customer, row), status=201)


async def get_balance(request: Request) -> Response:
    svc, who = await caller(request)
    customer = request.path_params["customer"]
    now = datetime.now(UTC)
    account = await reads.balance(svc.pool, who.tenant_id, customer, now)
    grants = await reads.grants(svc.pool, who.tenant_id, customer)
    if not account["known"] and not grants:
        raise not_found("customer")
    return json_response(
        {
            "customer": customer,
            "balance": account["balance"],
            "debt": account["debt"],
            "grants": grants,
            "as_of": now,
            "updated_at": account["updated_at"],
        }
    )


def _grant_state(row: dict[str, Any]) -> dict[str, Any]:
    """The part of a grant a void changes, as the audit log shows it."""
    return {
        "grant_id": row["grant_id"],
        "amount": format_decimal(row["amount"]),
        "remaining": format_decimal(row["remaining"]),
        "status": row["status"],
    }


def _not_active(grant_id: str, row: dict[str, Any]) -> ApiError:
    return ApiError(
        409,
        "grant_not_active",
        f"grant {grant_id!r} expired at {row['expires_at'].isoformat()}; nothing to void",
    )


async def post_grant_void(request: Request) -> Response:
    svc, who = await caller(request)
    customer, grant_id = request.path_params["customer"], request.path_params["grant_id"]
    body = await read_json(request, optional=True)
    voided = corrections_validation.grant_void(
        body,
        tenant_id=who.tenant_id,
        customer=customer,
        grant_id=grant_id,
        actor=who.actor,
        now=datetime.now(UTC),
    )
    row = await reads.grant(svc.pool, who.tenant_id, customer, grant_id)
    if row is None:
        raise not_found("grant")
    if row["status"] == VOIDED:
        return json_response({"customer": customer, **row})  # idempotent repeat
    expires_at = row["expires_at"]
    if row["status"] == EXPIRED or (expires_at is not None and expires_at <= voided.occurred_at):
        raise _not_active(grant_id, row)  # expired, or its expiry is on its way to the projection
    before = _grant_state(row)
    trail = audit_entry(
        request,
        who,
        action="grant.void",
        target=f"customer:{customer}/grant:{grant_id}",
        before=before,
        after={**before, "remaining": "0", "status": VOIDED, "reason": voided.reason},
        now=voided.occurred_at,
    )
    await svc.writer.publish([svc.writer.to_customer(voided)], [trail])
    closed = await svc.writer.wait(reads.GRANT_CLOSED, who.tenant_id, customer, grant_id)
    row = await reads.grant(svc.pool, who.tenant_id, customer, grant_id)
    if not closed or row is None or row["status"] == ACTIVE:
        return json_response({"customer": customer, "grant_id": grant_id, "status": "pending"}, status=202)
    if row["status"] == EXPIRED:  # its expiry was applied before the void
        raise _not_active(grant_id, row)
    return json_response({"customer": customer, **row})


def _limit(request: Request) -> int:
    return paging.limit(request, default=PAGE_DEFAULT, most=PAGE_MAX)


def _seq(raw: str) -> int:
    (seq,) = paging.decode(raw, 1)
    if not paging.is_position(seq):
        raise paging.invalid_cursor()
    return int(seq)


def alert_after(raw: str) -> tuple[int, Decimal]:
    """The position an alerts cursor holds: (ledger seq, threshold)."""
    seq, threshold = paging.decode(raw, 2)
    if not paging.is_position(seq) or not isinstance(threshold, str):
        raise paging.invalid_cursor()
    try:
        return seq, parse_decimal(threshold, "cursor", allow_negative=True)
    except ValidationError as exc:
        raise paging.invalid_cursor() from exc


def charge_position(row: dict[str, Any]) -> tuple[str, str]:
    """Where a page of charges (newest first) ends: its last row's event time and id."""
    return row["event_time"].isoformat(), row["event_id"]


def alert_position(row: dict[str, Any]) -> tuple[int, str]:
    """Where a page of alerts ends: its last row's ledger seq and threshold."""
    return row["ledger_seq"], str(row["threshold"])


async def get_charges(request: Request) -> Response:
    svc, who = await caller(request)
    customer = request.path_params["customer"]
    limit = _limit(request)
    cursor = request.query_params.get("cursor")
    before = paging.time_and_text(cursor) if cursor else None
    if before is None and await reads.customer(svc.pool, who.tenant_id, customer) is None:
        raise not_found("customer")
    rows = await reads.charges(svc.pool, who.tenant_id, customer, before=before, limit=limit + 1)
    page, next_cursor = paging.page(rows, limit, charge_position)
    return json_response({"customer": customer, "charges": page, "next_cursor": next_cursor})


async def _known_customer(svc: Services, tenant_id: str, customer: str) -> None:
    if await reads.customer(svc.pool, tenant_id, customer) is None:
        raise not_found("customer")


async def get_ledger(request: Request) -> Response:
    """Every movement of the customer's credits, oldest first, each with the balance after it."""
    svc, who = await caller(request)
    customer = request.path_params["customer"]
    limit = _limit(request)
    cursor = request.query_params.get("cursor")
    after_seq = _seq(cursor) if cursor else 0
    await _known_customer(svc, who.tenant_id, customer)
    rows = await reads.ledger(svc.pool, who.tenant_id, customer, after_seq=after_seq, limit=limit + 1)
    page, next_cursor = paging.page(rows, limit, lambda row: (row["seq"],))
    return json_response({"customer": customer, "entries": page, "next_cursor": next_cursor})


async def get_alerts(request: Request) -> Response:
    """The balance thresholds the customer crossed, in the order they fired."""
    svc, who = await caller(request)
    customer = request.path_params["customer"]
    limit = _limit(request)
    cursor = request.query_params.get("cursor")
    after = alert_after(cursor) if cursor else None
    await _known_customer(svc, who.tenant_id, customer)
    rows = await reads.alerts(svc.pool, who.tenant_id, customer, after=after, limit=limit + 1)
    page, next_cursor = paging.page(rows, limit, alert_position)
    return json_response({"customer": customer, "alerts": page, "next_cursor": next_cursor})
