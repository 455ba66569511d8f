"""Turning API voids and amendments (of grants and charged usage) into records, or a ValidationError."""

from __future__ import annotations

import uuid
from datetime import datetime

from pipeline.errors import ValidationError
from pipeline.money import parse_decimal
from pipeline.records import GrantVoided, UsageCorrected
from pipeline.validation import identifier, json_object, new_event_id, no_unknown, optional_reason, properties

VOID_FIELDS = frozenset({"reason"})
AMEND_FIELDS = frozenset({"quantity", "properties", "reason"})


def grant_void(
    raw: object, *, tenant_id: str, customer: str, grant_id: str, actor: str, now: datetime
) -> GrantVoided:
    """A void of a grant's unspent credits; whether the grant can be voided is the gateway's to check."""
    body = json_object(raw, "body")
    no_unknown(body, VOID_FIELDS, "void")
    return GrantVoided(
        event_id=new_event_id(),
        tenant_id=tenant_id,
        customer=identifier(customer, "customer"),
        grant_id=identifier(grant_id, "grant_id"),
        reason=optional_reason(body.get("reason")),
        actor=actor,
        occurred_at=now,
    )


def correction(
    raw: object,
    *,
    tenant_id: str,
    customer: str,
    target_event_id: str,
    action: str,
    actor: str,
    now: datetime,
) -> UsageCorrected:
    """A void (`action` "void") or amend ("amend": new quantity and/or properties) of a charged event."""
    body = json_object(raw, "body")
    no_unknown(body, VOID_FIELDS if action == "void" else AMEND_FIELDS, action)
    quantity = None if body.get("quantity") is None else parse_decimal(body["quantity"], "quantity")
    props = None if body.get("properties") is None else properties(body["properties"])
    if action == "amend" and quantity is None and props is None:
        raise ValidationError("an amendment needs a new quantity or new properties", code="empty_amendment")
    return UsageCorrected(
        event_id="cor_" + uuid.uuid4().hex,
        tenant_id=tenant_id,
        customer=customer,
        target_event_id=target_event_id,
        action=action,
        quantity=quantity,
        properties=props,
        reason=optional_reason(body.get("reason")),
        actor=actor,
        occurred_at=now,
    )
