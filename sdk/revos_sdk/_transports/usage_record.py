"""The gateway's rules for one usage event, applied where there is no gateway (the Kafka transport).

`usage_record` turns an event's wire bytes into the `UsageRecorded` fields the gateway would have
produced when receiving it at `now`, or refuses it with the code the gateway would have answered. The
rules, their order and their codes mirror the platform's `pipeline.validation.usage`; a contract test
holds the two together.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from decimal import ROUND_HALF_EVEN, Context, Decimal, DivisionByZero, InvalidOperation, Overflow
from typing import Any

import orjson

from revos_sdk._errors import EventRejected
from revos_sdk._event import (
    MAX_IDENTIFIER,
    MAX_PROPERTIES,
    MAX_PROPERTY_KEY,
    MAX_PROPERTY_VALUE,
    MAX_QUANTITY,
    QUANTITY_SCALE,
)

# How far event time may lie from receive time; older or later events are refused.
LATE_WINDOW = timedelta(days=35)
FUTURE_SKEW = timedelta(minutes=5)
EVENT_FIELDS = frozenset({"id", "customer", "type", "timestamp", "quantity", "properties"})

_QUANTUM = Decimal(1).scaleb(-QUANTITY_SCALE)
# 38 significant digits need more precision than the default context's 28.
_CONTEXT = Context(prec=100, rounding=ROUND_HALF_EVEN, traps=[InvalidOperation, DivisionByZero, Overflow])
_LONG = 1 << 63


class _Refused(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def record_key(tenant_id: str, customer: str) -> bytes:
    """The record key: everything about one balance shares a partition, so it is processed in order."""
    return f"{tenant_id}:{customer}".encode()


def usage_record(event_id: str, payload: bytes, tenant_id: str, now: datetime) -> dict[str, Any]:
    """The `UsageRecorded` fields for one event received at `now` (aware); raises EventRejected."""
    try:
        return _usage(orjson.loads(payload), tenant_id, now)
    except orjson.JSONDecodeError as exc:
        raise EventRejected(event_id, "invalid_json", f"event is not valid JSON: {exc}") from None
    except _Refused as exc:
        raise EventRejected(event_id, exc.code, exc.message) from None


def _usage(event: object, tenant_id: str, now: datetime) -> dict[str, Any]:
    if not isinstance(event, dict):
        raise _Refused("invalid_type", "event must be a JSON object")
    unknown = sorted(set(event) - EVENT_FIELDS)
    if unknown:
        raise _Refused("unknown_field", f"event has unknown field(s): {', '.join(unknown)}")
    raw_time = event.get("timestamp")
    timestamp = now if raw_time is None else _in_window(_timestamp(raw_time), now)
    quantity = _decimal(event.get("quantity", 1))
    return {
        "event_id": _identifier(event.get("id"), "id"),
        "tenant_id": tenant_id,
        "customer": _identifier(event.get("customer"), "customer"),
        "type": _identifier(event.get("type"), "type"),
        "timestamp": timestamp,
        "quantity": quantity,
        "properties": _properties(event.get("properties")),
        "received_at": now,
    }


def _identifier(raw: object, field: str) -> str:
    if not isinstance(raw, str) or not raw.strip():
        raise _Refused("invalid_" + field, f"{field} must be a non-empty string")
    if len(raw) > MAX_IDENTIFIER:
        raise _Refused("invalid_" + field, f"{field} is longer than {MAX_IDENTIFIER} characters")
    return raw


def _timestamp(raw: object) -> datetime:
    if not isinstance(raw, str):
        raise _Refused("invalid_timestamp", "timestamp must be an RFC 3339 string")
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise _Refused("invalid_timestamp", f"timestamp is not RFC 3339: {raw!r}") from None
    if value.tzinfo is None:
        raise _Refused("invalid_timestamp", "timestamp needs a time zone offset (e.g. Z)")
    return value


def _in_window(value: datetime, now: datetime) -> datetime:
    if value < now - LATE_WINDOW:
        raise _Refused(
            "timestamp_out_of_window", f"timestamp is more than {LATE_WINDOW.days} days in the past"
        )
    if value > now + FUTURE_SKEW:
        raise _Refused("timestamp_out_of_window", "timestamp is more than 5 minutes in the future")
    return value


def _decimal(raw: object) -> Decimal:
    if isinstance(raw, bool) or not isinstance(raw, str | int | float):
        raise _Refused("invalid_decimal", "quantity must be a decimal string or number")
    try:
        # A JSON number parsed as a double: its repr is the shortest form that round-trips.
        value = Decimal(repr(raw)) if isinstance(raw, float) else Decimal(raw)
    except InvalidOperation:
        raise _Refused("invalid_decimal", f"quantity is not a decimal: {raw!r}") from None
    if not value.is_finite():
        raise _Refused("invalid_decimal", "quantity must be finite")
    if value.as_tuple().exponent < -QUANTITY_SCALE:  # type: ignore[operator]
        raise _Refused("invalid_decimal", f"quantity has more than {QUANTITY_SCALE} decimal places")
    if value.copy_abs() >= MAX_QUANTITY:
        raise _Refused("invalid_decimal", "quantity is too large")
    if value < 0:
        raise _Refused("negative_decimal", "quantity must not be negative")
    return value.quantize(_QUANTUM, context=_CONTEXT)


def _properties(raw: object) -> dict[str, str | bool | int | float]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise _Refused("invalid_type", "properties must be a JSON object")
    if len(raw) > MAX_PROPERTIES:
        raise _Refused("invalid_properties", f"properties has more than {MAX_PROPERTIES} entries")
    out: dict[str, str | bool | int | float] = {}
    for key, value in raw.items():
        if "\x00" in key or (isinstance(value, str) and "\x00" in value):
            raise _Refused("invalid_properties", f"properties.{key} must not contain NUL characters")
        if not key or len(key) > MAX_PROPERTY_KEY:
            raise _Refused(
                "invalid_properties", f"properties keys must be 1 to {MAX_PROPERTY_KEY} characters"
            )
        if (
            (isinstance(value, str) and len(value) <= MAX_PROPERTY_VALUE)
            or isinstance(value, bool)
            or (isinstance(value, int) and -_LONG <= value < _LONG)
            or isinstance(value, float)
        ):
            out[key] = value
        else:
            raise _Refused(
                "invalid_properties",
                f"properties.{key} must be a string, number or boolean (flat, no nesting)",
            )
    return out
