"""track()'s local validation and the wire encoding (no I/O)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from revos_sdk import Event, InvalidEvent
from revos_sdk._event import IdFactory, encode_event


def wire(**kwargs: object) -> dict[str, object]:
    args: dict[str, object] = {"event_id": "e1", "customer": "c1", "type": "llm.tokens", **kwargs}
    return json.loads(encode_event(**args), parse_float=Decimal)  # type: ignore[arg-type]


def test_defaults_quantity_one_and_a_utc_timestamp_now() -> None:
    event = wire()
    assert event["quantity"] == 1 and "properties" not in event
    stamped = datetime.fromisoformat(str(event["timestamp"]))
    assert str(event["timestamp"]).endswith("Z")
    assert abs(stamped - datetime.now(UTC)) < timedelta(seconds=5)


@pytest.mark.parametrize(
    ("quantity", "sent"),
    [(1532, 1532), (Decimal("0.125"), "0.125"), ("2.50", "2.50"), (0, 0), (10**28, str(10**28))],
)
def test_quantities_stay_exact(quantity: object, sent: object) -> None:
    assert wire(quantity=quantity)["quantity"] == sent


@pytest.mark.parametrize(
    "quantity", [0.5, True, "abc", Decimal("NaN"), "Infinity", None, [1], -1, "-0.5", 10**29, "1.0000000001"]
)
def test_inexact_or_malformed_quantities_are_refused(quantity: object) -> None:
    with pytest.raises(InvalidEvent, match="quantity"):
        wire(quantity=quantity)


def test_invalid_event_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        wire(customer="")


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("customer", "", "customer"),
        ("customer", 42, "customer"),
        ("type", None, "type"),
        ("event_id", "", "id"),
        ("properties", {"nested": {"a": 1}}, "flat"),
        ("properties", {"list": [1]}, "flat"),
        ("properties", {"": 1}, "names"),
        ("properties", {1: "a"}, "names"),
        ("properties", {"x": float("nan")}, "finite"),
        ("properties", {"x": 2**63}, "64 bits"),
        ("properties", {f"k{i}": i for i in range(51)}, "at most 50"),
        ("properties", {"k" * 101: 1}, "1 to 100"),
        ("properties", {"k": "v" * 1001}, "longer than 1000"),
        ("customer", "c" * 201, "1 to 200"),
        ("customer", "cus_1 ", "white space"),
        ("type", "\tllm.tokens", "white space"),
        ("customer", "cus\u200b1", "non-printing"),
        ("properties", {"x": "\ud800"}, "JSON"),
        ("properties", ["a"], "mapping"),
        ("timestamp", datetime(2026, 1, 1), "timezone-aware"),
        ("timestamp", "2026-01-01", "RFC 3339"),
        ("timestamp", "2026-01-01T00:00:00", "offset"),
        ("timestamp", "yesterday", "RFC 3339"),
        ("timestamp", 1700000000, "datetime"),
    ],
)
def test_bad_calls_get_a_clear_error(field: str, value: object, message: str) -> None:
    with pytest.raises(InvalidEvent, match=message):
        wire(**{field: value})


def test_properties_and_timestamps_are_encoded_faithfully() -> None:
    when = datetime(2026, 3, 1, 12, 0, tzinfo=timezone(timedelta(hours=2)))
    event = wire(
        properties={
            "model": "gpt-4o",
            "cached": False,
            "n": 3,
            "t": 0.5,
            "price": Decimal("0.0001"),
            "big": 2**63 - 1,
        },
        timestamp=when,
    )
    assert event["properties"] == {
        "model": "gpt-4o",
        "cached": False,
        "n": 3,
        "t": Decimal("0.5"),
        "price": Decimal("0.0001"),
        "big": 2**63 - 1,
    }
    assert datetime.fromisoformat(str(event["timestamp"])) == when
    assert wire(timestamp="2026-03-01T10:00:00Z")["timestamp"] == "2026-03-01T10:00:00Z"


def test_event_round_trips_for_callbacks() -> None:
    payload = encode_event("e9", "c1", "llm.tokens", Decimal("1.10"), {"price": Decimal("0.30")})
    event = Event.from_payload(payload)
    assert (event.id, event.customer, event.type, event.quantity) == (
        "e9",
        "c1",
        "llm.tokens",
        Decimal("1.10"),
    )
    assert event.properties["price"] == Decimal("0.30")


def test_ids_are_unique_and_a_reset_starts_a_new_space() -> None:
    ids = IdFactory()
    first = {ids() for _ in range(10_000)}
    assert len(first) == 10_000
    ids.reset()
    assert first.isdisjoint({ids() for _ in range(10_000)})
