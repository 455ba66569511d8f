"""Turning API customer settings into a CustomerUpdated record, or a ValidationError with a stable code."""

from __future__ import annotations

from datetime import datetime

from pipeline.errors import ValidationError
from pipeline.money import format_decimal, parse_decimal
from pipeline.records import CustomerUpdated
from pipeline.validation import identifier, json_object, new_event_id, no_unknown, properties

CUSTOMER_FIELDS = frozenset({"burn_table", "credit_limit", "metadata", "alert_thresholds"})
MAX_ALERT_THRESHOLDS = 10


def customer_settings(
    raw: object,
    *,
    tenant_id: str,
    customer: str,
    current: CustomerUpdated | None,
    actor: str,
    now: datetime,
) -> CustomerUpdated:
    """A customer's whole new settings: the fields given replace the current ones, the rest stay."""
    body = json_object(raw, "body")
    no_unknown(body, CUSTOMER_FIELDS, "customer")
    burn_table_name = current.burn_table if current else "default"
    credit_limit = current.credit_limit if current else parse_decimal(0, "credit_limit")
    metadata = dict(current.metadata) if current else {}
    if "burn_table" in body:
        burn_table_name = identifier(body["burn_table"], "burn_table")
    if "credit_limit" in body:
        credit_limit = parse_decimal(body["credit_limit"], "credit_limit")
    if "metadata" in body:
        values = properties(body["metadata"], "metadata")
        if not all(isinstance(v, str) for v in values.values()):
            raise ValidationError(
                "metadata values must be strings", code="invalid_metadata", field="metadata"
            )
        metadata = {k: str(v) for k, v in values.items()}
    thresholds = list(current.alert_thresholds) if current else []
    if "alert_thresholds" in body:
        thresholds = alert_thresholds(body["alert_thresholds"])
    return CustomerUpdated(
        event_id=new_event_id(),
        tenant_id=tenant_id,
        customer=identifier(customer, "customer"),
        burn_table=burn_table_name,
        credit_limit=credit_limit,
        metadata=metadata,
        actor=actor,
        occurred_at=now,
        alert_thresholds=thresholds,
    )


def alert_thresholds(raw: object) -> list[str]:
    """Balances that raise an alert when crossed downwards: deduplicated, highest first, as decimal strings."""
    message = f"alert_thresholds must be a list of at most {MAX_ALERT_THRESHOLDS} decimals"
    if not isinstance(raw, list) or len(raw) > MAX_ALERT_THRESHOLDS:
        raise ValidationError(message, code="invalid_alert_thresholds", field="alert_thresholds")
    try:
        values = {parse_decimal(v, "alert_thresholds", allow_negative=True) for v in raw}
    except ValidationError as exc:
        raise ValidationError(
            f"{message}: {exc.message}", code="invalid_alert_thresholds", field="alert_thresholds"
        ) from exc
    return [format_decimal(v) for v in sorted(values, reverse=True)]
