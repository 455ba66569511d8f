"""Turning an API grant into a CreditsGranted record, or a ValidationError with a stable code."""

from __future__ import annotations

import uuid
from datetime import datetime

from pipeline.billing.ledger import REFUND_PREFIX
from pipeline.errors import ValidationError
from pipeline.money import parse_decimal
from pipeline.records import CreditsGranted
from pipeline.validation import identifier, json_object, new_event_id, no_unknown, optional_reason, timestamp

GRANT_FIELDS = frozenset({"id", "amount", "priority", "effective_at", "expires_at", "reason"})


def grant(raw: object, *, tenant_id: str, customer: str, actor: str, now: datetime) -> CreditsGranted:
    body = json_object(raw, "body")
    no_unknown(body, GRANT_FIELDS, "grant")
    amount = parse_decimal(body.get("amount"), "amount")
    if amount <= 0:
        raise ValidationError("amount must be greater than zero", code="invalid_amount", field="amount")
    priority = body.get("priority", 0)
    if isinstance(priority, bool) or not isinstance(priority, int) or not -1000 <= priority <= 1000:
        raise ValidationError(
            "priority must be an integer from -1000 to 1000", code="invalid_priority", field="priority"
        )
    effective_at = (
        now if body.get("effective_at") is None else timestamp(body["effective_at"], "effective_at")
    )
    expires_at = None if body.get("expires_at") is None else timestamp(body["expires_at"], "expires_at")
    if expires_at is not None and expires_at <= effective_at:
        raise ValidationError(
            "expires_at must be after effective_at", code="invalid_expiry", field="expires_at"
        )
    reason = optional_reason(body.get("reason"))
    grant_id = identifier(body["id"], "id") if body.get("id") is not None else "grt_" + uuid.uuid4().hex
    if grant_id.startswith(REFUND_PREFIX):
        raise ValidationError(
            f"grant ids starting with {REFUND_PREFIX!r} are reserved for refunds",
            code="invalid_id",
            field="id",
        )
    return CreditsGranted(
        event_id=new_event_id(),
        tenant_id=tenant_id,
        customer=identifier(customer, "customer"),
        grant_id=grant_id,
        amount=amount,
        priority=priority,
        effective_at=effective_at,
        expires_at=expires_at,
        reason=reason,
        actor=actor,
        occurred_at=now,
    )
