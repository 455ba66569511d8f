"""The shared usage-event cases (tests/contract/usage_events.json) hold the gateway's rules and the Python
SDK to the same answers; the TypeScript SDK's tests read the same file (tests/typescript/)."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest
from revos_sdk import EventRejected, InvalidEvent
from revos_sdk._event import encode_event
from revos_sdk._transports.usage_record import usage_record

from pipeline.errors import ValidationError
from pipeline.validation import usage

CASES = json.loads((Path(__file__).parents[2] / "contract" / "usage_events.json").read_text())["cases"]
# The time of the run: the Python SDK stamps an event without a timestamp with the real time.
NOW = datetime.now(UTC)


def concrete(case: dict[str, Any]) -> Any:
    """The case's event received at NOW: timestamp placed relative to NOW, "ID" made concrete."""
    event = copy.deepcopy(case["event"])
    if isinstance(event, dict):
        if event.get("id") == "ID":
            event["id"] = "ev_1"
        if case.get("timestamp_offset_seconds") is not None:
            at = NOW + timedelta(seconds=case["timestamp_offset_seconds"])
            event["timestamp"] = at.isoformat().replace("+00:00", "Z")
    return event


def gateway_code(event: Any) -> str | None:
    try:
        usage(event, tenant_id="ten_1", now=NOW)
    except ValidationError as exc:
        return exc.code
    return None


def python_sdk_refuses(event: Any) -> bool:
    """True when the Python SDK refuses the event at track() or before producing it (Kafka transport)."""
    if not isinstance(event, dict) or set(event) - {
        "id",
        "customer",
        "type",
        "timestamp",
        "quantity",
        "properties",
    }:
        return True  # track() takes only these keyword arguments
    quantity = event.get("quantity", 1)
    # track() takes exact quantities: a JSON number reaches it as the Decimal of its text.
    if isinstance(quantity, float):
        quantity = Decimal(repr(quantity))
    try:
        payload = encode_event(
            event.get("id"), event.get("customer"), event.get("type"), quantity,
            event.get("properties"), event.get("timestamp"),
        )  # fmt: skip
    except InvalidEvent:
        return True
    try:
        usage_record("ev_1", payload, "ten_1", NOW)
    except EventRejected:
        return True
    return False


def test_the_cases_cover_every_code_of_a_usage_event() -> None:
    codes = {case["code"] for case in CASES}
    assert codes >= {
        None, "invalid_type", "unknown_field", "invalid_timestamp", "timestamp_out_of_window",
        "invalid_decimal", "negative_decimal", "invalid_id", "invalid_customer", "invalid_properties",
    }  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=[case["name"] for case in CASES])
def test_the_gateway_answers_the_case_code(case: dict[str, Any]) -> None:
    assert gateway_code(concrete(case)) == case["code"]


# Known gaps of the Python SDK, kept visible: strict, so closing one fails here until it is removed.
PYTHON_SDK_GAPS: dict[str, str] = {}  # cases the Python SDK does not yet refuse as the gateway does


def python_case(case: dict[str, Any]) -> Any:
    gap = PYTHON_SDK_GAPS.get(case["name"])
    return pytest.param(case, marks=pytest.mark.xfail(reason=gap, strict=True)) if gap else case


@pytest.mark.parametrize("case", [python_case(c) for c in CASES], ids=[case["name"] for case in CASES])
def test_the_python_sdk_refuses_exactly_what_the_gateway_refuses(case: dict[str, Any]) -> None:
    assert python_sdk_refuses(concrete(case)) == (case["code"] is not None)


def test_the_file_is_valid_json_for_every_reader() -> None:
    orjson.loads(json.dumps({"cases": CASES}))
