"""Turning API input into records: every rule a request must meet, with a stable code when it does not."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from pipeline import entitlements, pricing
from pipeline.errors import ValidationError
from pipeline.ledger import REFUND_PREFIX
from pipeline.money import format_decimal, parse_decimal
from pipeline.records import (
    BurnRule,
    BurnTablePublished,
    CreditsGranted,
    CustomerUpdated,
    EntitlementSet,
    GrantVoided,
    Properties,
    UsageCorrected,
    UsageRecorded,
)

LATE_WINDOW = timedelta(days=35)
FUTURE_SKEW = timedelta(minutes=5)
MAX_ID = 200
MAX_PROPERTIES = 50
MAX_PROPERTY_KEY = 100
MAX_PROPERTY_VALUE = 1000
_LONG = 1 << 63

USAGE_FIELDS = frozenset({"id", "customer", "type", "timestamp", "quantity", "properties"})
GRANT_FIELDS = frozenset({"id", "amount", "priority", "effective_at", "expires_at", "reason"})
TABLE_FIELDS = frozenset({"rules", "effective_at"})
RULE_FIELDS = frozenset({"type", "match", "credits_per_unit", "cost_per_unit"})


def new_event_id() -> str:
    return "evt_" + uuid.uuid4().hex


def _object(raw: object, what: str) -> Mapping[str, Any]:
    if not isinstance(raw, dict):
        raise ValidationError(f"{what} must be a JSON object", code="invalid_type", field=what)
    return raw


def _no_unknown(raw: Mapping[str, Any], allowed: frozenset[str], what: str) -> None:
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise ValidationError(
            f"{what} has unknown field(s): {', '.join(unknown)}", code="unknown_field", field=unknown[0]
        )


def identifier(raw: object, field: str, *, required: bool = True) -> str:
    if raw is None and not required:
        return ""
    if not isinstance(raw, str) or not raw.strip():
        raise ValidationError(f"{field} must be a non-empty string", code="invalid_" + field, field=field)
    if len(raw) > MAX_ID:
        raise ValidationError(
            f"{field} is longer than {MAX_ID} characters", code="invalid_" + field, field=field
        )
    if "\x00" in raw:  # PostgreSQL text cannot hold NUL: refuse it here, not in the worker
        raise ValidationError(
            f"{field} must not contain NUL characters", code="invalid_" + field, field=field
        )
    return raw


def timestamp(raw: object, field: str) -> datetime:
    if not isinstance(raw, str):
        raise ValidationError(f"{field} must be an RFC 3339 string", code="invalid_timestamp", field=field)
    try:
        value = datetime.fromisoformat(raw)
    except ValueError as exc:
        raise ValidationError(
            f"{field} is not RFC 3339: {raw!r}", code="invalid_timestamp", field=field
        ) from exc
    if value.tzinfo is None:
        raise ValidationError(
            f"{field} needs a time zone offset (e.g. Z)", code="invalid_timestamp", field=field
        )
    return value


def in_window(value: datetime, field: str, now: datetime) -> datetime:
    if value < now - LATE_WINDOW:
        raise ValidationError(
            f"{field} is more than {LATE_WINDOW.days} days in the past",
            code="timestamp_out_of_window",
            field=field,
        )
    if value > now + FUTURE_SKEW:
        raise ValidationError(
            f"{field} is more than 5 minutes in the future", code="timestamp_out_of_window", field=field
        )
    return value


def properties(raw: object, field: str = "properties") -> Properties:
    if raw is None:
        return {}
    values = _object(raw, field)
    if len(values) > MAX_PROPERTIES:
        raise ValidationError(f"{field} has more than {MAX_PROPERTIES} entries", code="invalid_properties")
    out: Properties = {}
    for key, value in values.items():
        if "\x00" in key or (isinstance(value, str) and "\x00" in value):
            raise ValidationError(
                f"{field} must not contain NUL characters", code="invalid_properties", field=f"{field}.{key}"
            )
        if not key or len(key) > MAX_PROPERTY_KEY:
            raise ValidationError(
                f"{field} keys must be 1 to {MAX_PROPERTY_KEY} characters", code="invalid_properties"
            )
        if (
            (isinstance(value, str) and len(value) <= MAX_PROPERTY_VALUE)
            or isinstance(value, bool)
            or (isinstance(value, int) and -_LONG <= value < _LONG)
            or isinstance(value, float)
        ):
            out[key] = value
        else:
            raise ValidationError(
                f"{field}.{key} must be a string, number or boolean (flat, no nesting)",
                code="invalid_properties",
                field=f"{field}.{key}",
            )
    return out


def usage(raw: object, *, tenant_id: str, now: datetime) -> UsageRecorded:
    """A usage event from the API, received at `now`."""
    event = _object(raw, "event")
    _no_unknown(event, USAGE_FIELDS, "event")
    ts = (
        now
        if event.get("timestamp") is None
        else in_window(timestamp(event["timestamp"], "timestamp"), "timestamp", now)
    )
    quantity = parse_decimal(event.get("quantity", 1), "quantity")
    return UsageRecorded(
        event_id=identifier(event.get("id"), "id"),
        tenant_id=tenant_id,
        customer=identifier(event.get("customer"), "customer"),
        type=identifier(event.get("type"), "type"),
        timestamp=ts,
        quantity=quantity,
        properties=properties(event.get("properties")),
        received_at=now,
    )


def grant(raw: object, *, tenant_id: str, customer: str, actor: str, now: datetime) -> CreditsGranted:
    body = _object(raw, "body")
    _no_unknown(body, GRANT_FIELDS, "grant")
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


def burn_rules(raw: object) -> tuple[BurnRule, ...]:
    if not isinstance(raw, list):
        raise ValidationError("rules must be an array", code="invalid_burn_table", field="rules")
    rules = []
    for i, item in enumerate(raw):
        rule = _object(item, f"rules[{i}]")
        _no_unknown(rule, RULE_FIELDS, f"rules[{i}]")
        cost = rule.get("cost_per_unit")
        rules.append(
            BurnRule(
                type=identifier(rule.get("type"), "type"),
                match=properties(rule.get("match"), f"rules[{i}].match"),
                credits_per_unit=parse_decimal(rule.get("credits_per_unit"), f"rules[{i}].credits_per_unit"),
                cost_per_unit=None if cost is None else parse_decimal(cost, f"rules[{i}].cost_per_unit"),
            )
        )
    result = tuple(rules)
    pricing.validate_rules(result)
    return result


def burn_table(
    raw: object, *, tenant_id: str, name: str, version: int, actor: str, now: datetime
) -> BurnTablePublished:
    body = _object(raw, "body")
    _no_unknown(body, TABLE_FIELDS, "burn table")
    effective_at = now
    if body.get("effective_at") is not None:
        effective_at = timestamp(body["effective_at"], "effective_at")
        if effective_at < now - LATE_WINDOW:
            raise ValidationError(
                f"effective_at may be backdated at most {LATE_WINDOW.days} days",
                code="timestamp_out_of_window",
                field="effective_at",
            )
    return BurnTablePublished(
        event_id=new_event_id(),
        tenant_id=tenant_id,
        name=identifier(name, "name"),
        version=version,
        effective_at=effective_at,
        rules=burn_rules(body.get("rules")),
        actor=actor,
        occurred_at=now,
    )


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
    body = _object(raw, "body")
    _no_unknown(body, CUSTOMER_FIELDS, "customer")
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


def optional_reason(raw: object) -> str | None:
    """Why an admin did something, for the record; optional everywhere."""
    if raw is None:
        return None
    if not isinstance(raw, str) or len(raw) > 1000 or "\x00" in raw:
        raise ValidationError("reason must be a string of at most 1000 characters", code="invalid_reason")
    return raw


VOID_FIELDS = frozenset({"reason"})
AMEND_FIELDS = frozenset({"quantity", "properties", "reason"})


def grant_void(
    raw: object, *, tenant_id: str, customer: str, grant_id: str, actor: str, now: datetime
) -> GrantVoided:
    """A void of a grant's unspent credits; whether the grant can be voided is the gateway's to check."""
    body = _object(raw, "body")
    _no_unknown(body, VOID_FIELDS, "void")
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
    body = _object(raw, "body")
    _no_unknown(body, VOID_FIELDS if action == "void" else AMEND_FIELDS, action)
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


# Entitlements and the real-time check.

ENTITLEMENT_FIELDS = {
    entitlements.BOOLEAN: frozenset({"kind", "enabled"}),
    entitlements.LIMIT: frozenset({"kind", "limit"}),
    entitlements.METERED: frozenset({"kind", "event_type", "match", "allowance", "period"}),
}
CHECK_FIELDS = frozenset({"customer", "feature", "credits", "hold"})
HOLD_FIELDS = frozenset({"event_id", "ttl_seconds"})
HOLD_TTL_DEFAULT = 60
HOLD_TTL_MAX = 3600


def entitlement(
    raw: object, *, tenant_id: str, customer: str, feature: str, actor: str, now: datetime
) -> EntitlementSet:
    """A customer's whole entitlement to a feature: boolean (enabled), limit (a static number) or
    metered (usage of one event type, optionally matching properties, against an allowance per period)."""
    body = _object(raw, "body")
    _no_unknown(body, frozenset().union(*ENTITLEMENT_FIELDS.values()), "entitlement")
    kind = body.get("kind")
    if not isinstance(kind, str) or kind not in ENTITLEMENT_FIELDS:
        raise ValidationError(
            f"kind must be one of {', '.join(entitlements.KINDS)}",
            code="invalid_entitlement_kind",
            field="kind",
        )
    foreign = sorted(set(body) - ENTITLEMENT_FIELDS[kind])
    if foreign:
        raise ValidationError(
            f"a {kind} entitlement has no field(s): {', '.join(foreign)}",
            code="invalid_entitlement",
            field=foreign[0],
        )
    enabled: bool | None = None
    limit: Decimal | None = None
    allowance: Decimal | None = None
    event_type: str | None = None
    period: str | None = None
    match: Properties = {}
    if kind == entitlements.BOOLEAN:
        enabled = body.get("enabled")
        if not isinstance(enabled, bool):
            raise ValidationError(
                "enabled must be true or false", code="invalid_entitlement", field="enabled"
            )
    elif kind == entitlements.LIMIT:
        limit = parse_decimal(body.get("limit"), "limit")
    else:
        event_type = identifier(body.get("event_type"), "event_type")
        match = properties(body.get("match"), "match")
        allowance = parse_decimal(body.get("allowance"), "allowance")
        raw_period = body.get("period")
        if not isinstance(raw_period, str) or raw_period not in entitlements.PERIODS:
            raise ValidationError("period must be day or month", code="invalid_period", field="period")
        period = raw_period
    return EntitlementSet(
        event_id=new_event_id(),
        tenant_id=tenant_id,
        customer=identifier(customer, "customer"),
        feature=identifier(feature, "feature"),
        kind=kind,
        enabled=enabled,
        limit=limit,
        event_type=event_type,
        match=match,
        allowance=allowance,
        period=period,
        actor=actor,
        occurred_at=now,
    )


def check(raw: object) -> entitlements.CheckRequest:
    """A real-time check: may `customer` use `feature` (optional) and spend `credits` (default 0)?"""
    body = _object(raw, "body")
    _no_unknown(body, CHECK_FIELDS, "check")
    feature = body.get("feature")
    credits = parse_decimal(body.get("credits", 0), "credits")
    hold = None
    if body.get("hold") is not None:
        raw_hold = _object(body["hold"], "hold")
        _no_unknown(raw_hold, HOLD_FIELDS, "hold")
        if credits <= 0:
            raise ValidationError(
                "a hold needs credits greater than zero", code="invalid_hold", field="credits"
            )
        ttl = raw_hold.get("ttl_seconds", HOLD_TTL_DEFAULT)
        if isinstance(ttl, bool) or not isinstance(ttl, int) or not 1 <= ttl <= HOLD_TTL_MAX:
            raise ValidationError(
                f"hold.ttl_seconds must be an integer from 1 to {HOLD_TTL_MAX}", code="invalid_hold",
                field="hold.ttl_seconds",
            )  # fmt: skip
        event_id = raw_hold.get("event_id")
        hold = entitlements.HoldRequest(
            ttl_seconds=ttl, event_id=None if event_id is None else identifier(event_id, "event_id")
        )
    return entitlements.CheckRequest(
        customer=identifier(body.get("customer"), "customer"),
        feature=None if feature is None else identifier(feature, "feature"),
        credits=credits,
        hold=hold,
    )
