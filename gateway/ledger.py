"""A customer's credits over time: voiding a grant, the ledger of every movement, balance alerts."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from gateway import paging
from gateway.billing import _limit
from gateway.body import read_json
from gateway.errors import ApiError, not_found
from gateway.responses import json_response
from gateway.services import Services, caller
from pipeline.admin import audit
from pipeline.admin.audit_topic import audit_outgoing
from pipeline.billing.ledger import ACTIVE, EXPIRED, VOIDED
from pipeline.billing.validation import corrections as corrections_validation
from pipeline.errors import ValidationError
from pipeline.money import format_decimal, parse_decimal
from pipeline.publishing import Outgoing
from pipeline.topics import BILLING, customer_key
from projections import queries
from projections.waiting import wait_for


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
    actor = f"key:{who.key_id}"
    voided = corrections_validation.grant_void(
        body,
        tenant_id=who.tenant_id,
        customer=customer,
        grant_id=grant_id,
        actor=actor,
        now=datetime.now(UTC),
    )
    row = await queries.grant(svc.pool, who.tenant_id, customer, grant_id)
    if row is None:
        raise not_found("grant")
    if row["status"] == VOIDED:
        return json_response({"customer": customer, **row})  # idempotent repeat
    expires_at = row["expires_at"]
    if row["status"] == EXPIRED or (expires_at is not None and expires_at <= voided.occurred_at):
        raise _not_active(grant_id, row)  # expired, or its expiry is on its way to the projection
    before = _grant_state(row)
    trail = audit.record(
        tenant_id=who.tenant_id,
        actor=actor,
        action="grant.void",
        target=f"customer:{customer}/grant:{grant_id}",
        before=before,
        after={**before, "remaining": "0", "status": VOIDED, "reason": voided.reason},
        request_id=request.state.request_id,
        now=voided.occurred_at,
    )
    await svc.publisher.publish(
        [
            Outgoing(BILLING, svc.codec.encode(voided), key=customer_key(who.tenant_id, customer)),
            audit_outgoing(svc.codec, trail),
        ]
    )
    closed = await wait_for(
        svc.pool, queries.GRANT_CLOSED, who.tenant_id, customer, grant_id, timeout=svc.write_timeout
    )
    row = await queries.grant(svc.pool, who.tenant_id, customer, grant_id)
    if not closed or row is None or row["status"] == ACTIVE:
        return json_response({"customer": customer, "grant_id": grant_id, "status": "pending"}, status=202)
    if row["status"] == EXPIRED:  # its expiry was applied before the void
        raise _not_active(grant_id, row)
    return json_response({"customer": customer, **row})


def _cursor(*position: object) -> str:
    raw = orjson.dumps(position)
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _position(raw: str) -> list[Any]:
    try:
        position = orjson.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
    except (ValueError, TypeError) as exc:
        raise ApiError(400, "invalid_cursor", "cursor is not one this API returned") from exc
    if not isinstance(position, list):
        raise ApiError(400, "invalid_cursor", "cursor is not one this API returned")
    return position


def _seq(raw: str) -> int:
    position = _position(raw)
    if len(position) != 1 or not paging.is_position(position[0]):
        raise ApiError(400, "invalid_cursor", "cursor is not one this API returned")
    return position[0]


def _alert_position(raw: str) -> tuple[int, Decimal]:
    position = _position(raw)
    if len(position) != 2 or not paging.is_position(position[0]) or not isinstance(position[1], str):
        raise ApiError(400, "invalid_cursor", "cursor is not one this API returned")
    try:
        return position[0], parse_decimal(position[1], "cursor", allow_negative=True)
    except ValidationError as exc:
        raise ApiError(400, "invalid_cursor", "cursor is not one this API returned") from exc


async def _known_customer(svc: Services, tenant_id: str, customer: str) -> None:
    if await queries.customer(svc.pool, tenant_id, customer) is None:
        raise not_found("customer")


async def get_ledger(request: Request) -> Response:
    """Every movement of the customer's credits, oldest first, each with the balance after it."""
    svc, who = await caller(request)
    customer = request.path_params["customer"]
    limit = _limit(request)
    cursor = request.query_params.get("cursor")
    after_seq = _seq(cursor) if cursor else 0
    await _known_customer(svc, who.tenant_id, customer)
    rows = await queries.ledger(svc.pool, who.tenant_id, customer, after_seq=after_seq, limit=limit + 1)
    page = rows[:limit]
    return json_response(
        {
            "customer": customer,
            "entries": page,
            "next_cursor": _cursor(page[-1]["seq"]) if len(rows) > limit else None,
        }
    )


async def get_alerts(request: Request) -> Response:
    """The balance thresholds the customer crossed, in the order they fired."""
    svc, who = await caller(request)
    customer = request.path_params["customer"]
    limit = _limit(request)
    cursor = request.query_params.get("cursor")
    after = _alert_position(cursor) if cursor else None
    await _known_customer(svc, who.tenant_id, customer)
    rows = await queries.alerts(svc.pool, who.tenant_id, customer, after=after, limit=limit + 1)
    page = rows[:limit]
    last = page[-1] if len(rows) > limit else None
    return json_response(
        {
            "customer": customer,
            "alerts": page,
            "next_cursor": None if last is None else _cursor(last["ledger_seq"], str(last["threshold"])),
        }
    )
