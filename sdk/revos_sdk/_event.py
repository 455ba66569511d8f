"""Usage events: local validation, id assignment and the one wire encoding."""

from __future__ import annotations

import itertools
import json
import math
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson

from revos_sdk._errors import InvalidEvent

Quantity = int | Decimal | str
PropertyValue = str | int | float | bool | Decimal
Timestamp = datetime | str

_SCALARS = (str, int, float, bool, Decimal)
_ORJSON_OPTIONS = orjson.OPT_UTC_Z

# The gateway's limits (its validation of POST /v1/events), mirrored so a bad call fails at the call site
# instead of coming back later through on_error.
MAX_IDENTIFIER = 200
MAX_PROPERTIES = 50
MAX_PROPERTY_KEY = 100
MAX_PROPERTY_VALUE = 1000
QUANTITY_SCALE = 9
MAX_QUANTITY = Decimal(10) ** (38 - QUANTITY_SCALE)


class IdFactory:
    """Mints event ids: a random 96-bit prefix per process plus a counter, so ids never repeat."""

    __slots__ = ("_counter", "_prefix")

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Start a new id space; called after fork so parent and child never collide."""
        self._prefix = f"ev_{secrets.token_hex(12)}_"
        self._counter = itertools.count()

    def __call__(self) -> str:
        # next() on itertools.count is atomic under the GIL, so this is thread-safe without a lock.
        return f"{self._prefix}{next(self._counter):x}"


_INT64 = range(-(2**63), 2**63)


def _quantity(value: object) -> int | str:
    if type(value) is int:
        if not 0 <= value < MAX_QUANTITY:
            raise InvalidEvent(f"quantity must be within 0..{MAX_QUANTITY:.0e}, got {value}")
        # orjson only encodes 64-bit integers; larger ones travel as decimal strings.
        return value if value in _INT64 else str(value)
    if isinstance(value, (bool, float)):
        raise InvalidEvent(
            f"quantity must be an int, Decimal or decimal string, not {type(value).__name__} "
            "(floats are inexact; use Decimal('0.5') or '0.5')"
        )
    if isinstance(value, int):
        return _quantity(int(value))
    if isinstance(value, str):
        try:
            value = Decimal(value)
        except InvalidOperation:
            raise InvalidEvent(f"quantity {value!r} is not a decimal number") from None
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise InvalidEvent(f"quantity must be finite, got {value}")
        if not 0 <= value < MAX_QUANTITY:
            raise InvalidEvent(f"quantity must be within 0..{MAX_QUANTITY:.0e}, got {value}")
        if value.as_tuple().exponent < -QUANTITY_SCALE:  # type: ignore[operator]
            raise InvalidEvent(f"quantity has more than {QUANTITY_SCALE} decimal places: {value}")
        return str(value)
    raise InvalidEvent(f"quantity must be an int, Decimal or decimal string, not {type(value).__name__}")


def _properties(value: object) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise InvalidEvent(f"properties must be a mapping, not {type(value).__name__}")
    if len(value) > MAX_PROPERTIES:
        raise InvalidEvent(f"at most {MAX_PROPERTIES} properties, got {len(value)}")
    out: dict[str, Any] = {}
    for key, item in value.items():
        if not isinstance(key, str) or not key or len(key) > MAX_PROPERTY_KEY:
            raise InvalidEvent(
                f"property names must be strings of 1 to {MAX_PROPERTY_KEY} characters, got {key!r}"
            )
        if "\x00" in key or (isinstance(item, str) and "\x00" in item):
            # PostgreSQL text cannot hold NUL, so the gateway refuses it.
            raise InvalidEvent(f"property {key!r} must not contain NUL characters")
        if isinstance(item, str) and len(item) > MAX_PROPERTY_VALUE:
            raise InvalidEvent(f"property {key!r} is longer than {MAX_PROPERTY_VALUE} characters")
        if not isinstance(item, _SCALARS):
            raise InvalidEvent(
                f"property {key!r} must be a str, number or bool (properties are flat), "
                f"not {type(item).__name__}"
            )
        if isinstance(item, float) and not math.isfinite(item):
            raise InvalidEvent(f"property {key!r} must be finite, got {item}")
        if isinstance(item, Decimal):
            # The gateway parses JSON numbers as doubles and refuses a whole request holding an infinite one.
            if not item.is_finite() or not math.isfinite(float(item)):
                raise InvalidEvent(f"property {key!r} must be finite, got {item}")
            # A Fragment keeps the decimal exact on the wire as a JSON number.
            out[key] = orjson.Fragment(str(item))
        elif isinstance(item, int) and not isinstance(item, bool) and item not in _INT64:
            raise InvalidEvent(f"property {key!r} must fit in 64 bits, got {item}")
        else:
            out[key] = item
    return out


def _timestamp(value: object) -> datetime | str:
    if value is None:
        return datetime.now(UTC)
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise InvalidEvent("timestamp must be timezone-aware (e.g. datetime.now(timezone.utc))")
        return value
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise InvalidEvent(f"timestamp {value!r} is not RFC 3339") from None
        if parsed.tzinfo is None or "T" not in value.upper():
            raise InvalidEvent(f"timestamp {value!r} must be RFC 3339 with a time and an offset")
        return value
    raise InvalidEvent(f"timestamp must be a datetime or RFC 3339 string, not {type(value).__name__}")


def encode_event(
    event_id: str,
    customer: object,
    type: object,
    quantity: object = 1,
    properties: object = None,
    timestamp: object = None,
) -> bytes:
    """Validate one event and return its JSON object bytes; raises InvalidEvent, never anything else."""
    for name, value in (("id", event_id), ("customer", customer), ("type", type)):
        # The gateway's rules: 1 to 200 characters, none at either end white space, none non-printing.
        if not isinstance(value, str) or not value.strip() or len(value) > MAX_IDENTIFIER:
            raise InvalidEvent(
                f"{name} must be a non-blank string of 1 to {MAX_IDENTIFIER} characters, got {value!r:.60}"
            )
        if value != value.strip() or not value.isprintable():
            raise InvalidEvent(
                f"{name} must not start or end with white space or hold non-printing characters, "
                f"got {value!r:.60}"
            )
    wire: dict[str, Any] = {
        "id": event_id,
        "customer": customer,
        "type": type,
        "timestamp": _timestamp(timestamp),
        "quantity": _quantity(quantity),
    }
    if properties is not None:
        wire["properties"] = _properties(properties)
    try:
        return orjson.dumps(wire, option=_ORJSON_OPTIONS)
    except orjson.JSONEncodeError as exc:
        # e.g. a lone surrogate in a string: not representable as UTF-8 JSON.
        raise InvalidEvent(f"event cannot be encoded as JSON: {exc}") from None


@dataclass(frozen=True, slots=True)
class Event:
    """An event as handed to `on_error`: exact decimals, wire-format timestamp."""

    id: str
    customer: str
    type: str
    timestamp: str | None
    quantity: Decimal
    properties: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_payload(cls, payload: bytes) -> Event:
        """Decode the wire bytes made by `encode_event` (numbers parse as Decimal, never float)."""
        raw = json.loads(payload, parse_float=Decimal)
        return cls(
            id=raw["id"],
            customer=raw["customer"],
            type=raw["type"],
            timestamp=raw.get("timestamp"),
            quantity=Decimal(raw.get("quantity", 1)),
            properties=raw.get("properties") or {},
        )
