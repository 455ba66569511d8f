"""Turning an API burn table into a BurnTablePublished record, or a ValidationError with a stable code."""

from __future__ import annotations

from datetime import datetime

from pipeline.billing import pricing
from pipeline.errors import ValidationError
from pipeline.money import parse_decimal
from pipeline.records import BurnRule, BurnTablePublished, UsageRecorded
from pipeline.validation import (
    LATE_WINDOW,
    identifier,
    json_object,
    new_event_id,
    no_unknown,
    properties,
    timestamp,
)

TABLE_FIELDS = frozenset({"rules", "effective_at"})
RULE_FIELDS = frozenset({"type", "match", "credits_per_unit", "cost_per_unit"})
PREVIEW_FIELDS = frozenset({"type", "quantity", "properties", "timestamp"})
PREVIEW_ID = "preview"  # the event id and customer of a priced-but-never-sent event


def burn_rules(raw: object) -> tuple[BurnRule, ...]:
    if not isinstance(raw, list):
        raise ValidationError("rules must be an array", code="invalid_burn_table", field="rules")
    rules = []
    for i, item in enumerate(raw):
        rule = json_object(item, f"rules[{i}]")
        no_unknown(rule, RULE_FIELDS, f"rules[{i}]")
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
    body = json_object(raw, "body")
    no_unknown(body, TABLE_FIELDS, "burn table")
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


def preview(raw: object, *, tenant_id: str, now: datetime) -> UsageRecorded:
    """The usage record an event would become, to price it without sending it: the fields of a usage
    event that pricing reads (`type`, `quantity`, `properties`, `timestamp`, default now), checked as
    POST /v1/events checks them, at any time (a preview may ask about a version not yet in force)."""
    body = json_object(raw, "body")
    no_unknown(body, PREVIEW_FIELDS, "preview")
    at = now if body.get("timestamp") is None else timestamp(body["timestamp"], "timestamp")
    return UsageRecorded(
        event_id=PREVIEW_ID,
        tenant_id=tenant_id,
        customer=PREVIEW_ID,
        type=identifier(body.get("type"), "type"),
        timestamp=at,
        quantity=parse_decimal(body.get("quantity", 1), "quantity"),
        properties=properties(body.get("properties")),
        received_at=now,
    )
