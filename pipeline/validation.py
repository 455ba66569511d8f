"""Turning API input into records: the shared rules (ids, timestamps, properties) and usage events."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from pipeline.errors import ValidationError
from pipeline.money import parse_decimal
from pipeline.records import Properties, UsageRecorded

LATE_WINDOW = timedelta(days=35)
FUTURE_SKEW = timedelta(minutes=5)
MAX_ID = 200
MAX_PROPERTIES = 50
MAX_PROPERTY_KEY = 100
MAX_PROPERTY_VALUE = 1000
_LONG = 1 << 63

USAGE_FIELDS = frozenset({"id", "customer", "type", "timestamp", "quantity", "properties"})


def new_event_id() -> str:
    return "evt_" + uuid.uuid4().hex


def json_object(raw: object, what: str) -> Mapping[str, Any]:
    if not isinstance(raw, dict):
        raise ValidationError(f"{what} must be a JSON object", code="invalid_type", field=what)
    return raw


def no_unknown(raw: Mapping[str, Any], allowed: frozenset[str], what: str) -> None:
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
    # Identifiers are compared byte for byte, so `c1` and `c1 ` would be two customers: refuse what
    # only looks the same rather than trim it silently (a trimmed event id could merge two events).
    if raw != raw.strip():
        raise ValidationError(
            f"{field} must not start or end with white space", code="invalid_" + field, field=field
        )
    if not raw.isprintable():
        raise ValidationError(
            f"{field} must not contain control or other non-printing characters",
            code="invalid_" + field,
            field=field,
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
    values = json_object(raw, field)
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


def optional_reason(raw: object) -> str | None:
    """Why an admin did something, for the record; optional everywhere."""
    if raw is None:
        return None
    if not isinstance(raw, str) or len(raw) > 1000 or "\x00" in raw:
        raise ValidationError("reason must be a string of at most 1000 characters", code="invalid_reason")
    return raw


def usage(raw: object, *, tenant_id: str, now: datetime) -> UsageRecorded:
    """A usage event from the API, received at `now`."""
    event = json_object(raw, "event")
    no_unknown(event, USAGE_FIELDS, "event")
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
