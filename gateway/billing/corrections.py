"""Voiding and amending charged usage events; the billing worker re-prices and moves the credits."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from gateway.http.body import read_json
from gateway.http.errors import ApiError
from gateway.http.responses import json_response
from gateway.services import caller
from gateway.writes import audit_entry
from pipeline.billing.state import AMENDED, VOIDED
from pipeline.billing.validation import corrections as corrections_validation
from pipeline.money import format_decimal
from pipeline.records import UsageCorrected
from projections.billing import reads

# How a correction the worker rejected is answered; any other code is a conflict.
REJECTED_STATUS = {"event_voided": 409, "unpriced": 422, "event_not_found": 404}


def _charge_state(charge: dict[str, Any]) -> dict[str, Any]:
    """The part of a charge a correction changes, as the audit log shows it."""
    return {
        "quantity": format_decimal(charge["quantity"]),
        "properties": charge["properties"],
        "credits": format_decimal(charge["credits"]),
        "status": charge["status"],
    }


def _asked(c: UsageCorrected, charge: dict[str, Any]) -> dict[str, Any]:
    if c.action == "void":
        return {"status": VOIDED, "reason": c.reason}
    return {
        "quantity": format_decimal(charge["quantity"] if c.quantity is None else c.quantity),
        "properties": charge["properties"] if c.properties is None else c.properties,
        "status": AMENDED,
        "reason": c.reason,
    }


async def void_event(request: Request) -> Response:
    return await _correct(request, "void")


async def amend_event(request: Request) -> Response:
    return await _correct(request, "amend")


async def _correct(request: Request, action: str) -> Response:
    svc, who = await caller(request)
    event_id = request.path_params["event_id"]
    body = await read_json(request, optional=action == "void")
    charge = await reads.charge(svc.pool, who.tenant_id, event_id)
    if charge is None:
        raise ApiError(
            404,
            "event_not_found",
            f"no charged event {event_id!r}; events are charged moments after being accepted",
        )
    actor = who.actor
    correction = corrections_validation.correction(
        body, tenant_id=who.tenant_id, customer=charge["customer"], target_event_id=event_id,
        action=action, actor=actor, now=datetime.now(UTC),
    )  # fmt: skip
    if charge["status"] == VOIDED:
        if action == "void":  # idempotent repeat: nothing left to refund
            return json_response(
                {"event_id": event_id, "correction_id": None, "status": "unchanged",
                 "credits_before": charge["credits"], "credits_after": charge["credits"], "charge": charge}
            )  # fmt: skip
        raise ApiError(409, "event_voided", f"event {event_id!r} was voided and cannot be amended")
    trail = audit_entry(
        request,
        who,
        action=f"usage.{action}",
        target=f"event:{event_id}",
        before=_charge_state(charge),
        after=_asked(correction, charge),
        now=correction.occurred_at,
    )
    await svc.writer.publish([svc.writer.to_customer(correction)], [trail])
    applied = await svc.writer.wait(reads.CORRECTION_EXISTS, who.tenant_id, correction.event_id)
    outcome = await reads.correction(svc.pool, who.tenant_id, correction.event_id) if applied else None
    if outcome is None:
        return json_response(
            {"event_id": event_id, "correction_id": correction.event_id, "status": "pending"}, status=202
        )
    if outcome["status"] == "rejected":
        code = outcome["code"] or "rejected"
        raise ApiError(
            REJECTED_STATUS.get(code, 409), code, outcome["message"] or "the correction was rejected"
        )
    return json_response(
        {
            "event_id": event_id,
            "correction_id": correction.event_id,
            "status": outcome["status"],
            "credits_before": outcome["credits_before"],
            "credits_after": outcome["credits_after"],
            "charge": await reads.charge(svc.pool, who.tenant_id, event_id),
        }
    )
