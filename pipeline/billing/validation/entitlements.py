"""Turning API entitlements and real-time checks (with holds) into records and requests, or a ValidationError."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from pipeline.billing import entitlements
from pipeline.errors import ValidationError
from pipeline.money import parse_decimal
from pipeline.records import EntitlementSet, Properties
from pipeline.validation import identifier, json_object, new_event_id, no_unknown, properties

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
    body = json_object(raw, "body")
    no_unknown(body, frozenset().union(*ENTITLEMENT_FIELDS.values()), "entitlement")
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
    body = json_object(raw, "body")
    no_unknown(body, CHECK_FIELDS, "check")
    feature = body.get("feature")
    credits = parse_decimal(body.get("credits", 0), "credits")
    hold = None
    if body.get("hold") is not None:
        raw_hold = json_object(body["hold"], "hold")
        no_unknown(raw_hold, HOLD_FIELDS, "hold")
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
