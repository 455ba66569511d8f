"""Input rules for alert thresholds, grant voids and usage corrections, with their stable codes (no I/O)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from pipeline.billing.validation import corrections as corrections_validation
from pipeline.billing.validation import customers as customer_validation
from pipeline.errors import ValidationError
from pipeline.records import CustomerUpdated

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def settings(raw: object, current: CustomerUpdated | None = None) -> CustomerUpdated:
    return customer_validation.customer_settings(
        raw, tenant_id="ten_1", customer="cus_1", current=current, actor="key:k", now=NOW
    )


def correct(raw: object, action: str) -> Any:
    return corrections_validation.correction(
        raw,
        tenant_id="ten_1",
        customer="cus_1",
        target_event_id="evt_1",
        action=action,
        actor="key:k",
        now=NOW,
    )


def refused(fn: Any, code: str, *args: Any) -> None:
    with pytest.raises(ValidationError) as info:
        fn(*args)
    assert info.value.code == code, info.value.message


# alert thresholds


def test_thresholds_are_deduplicated_and_kept_highest_first_as_decimal_strings() -> None:
    updated = settings({"alert_thresholds": ["0", 100, "-5.5", "100.0", 10]})
    assert updated.alert_thresholds == ["100", "10", "0", "-5.5"]


def test_thresholds_default_to_none_and_survive_an_update_of_other_fields() -> None:
    assert settings({}).alert_thresholds == []
    first = settings({"alert_thresholds": ["10"]})
    assert settings({"metadata": {"plan": "pro"}}, current=first).alert_thresholds == ["10"]
    assert settings({"alert_thresholds": []}, current=first).alert_thresholds == []


def test_ten_thresholds_are_accepted() -> None:
    assert len(settings({"alert_thresholds": [str(i) for i in range(10)]}).alert_thresholds) == 10


@pytest.mark.parametrize(
    "raw",
    ["10", 10, None, {"a": "1"}, [str(i) for i in range(11)], ["x"], [True], [None], ["1.0000000001"], [[1]]],
)
def test_bad_thresholds_are_refused(raw: object) -> None:
    refused(settings, "invalid_alert_thresholds", {"alert_thresholds": raw})


# grant voids


def test_a_grant_void_keeps_its_reason() -> None:
    voided = corrections_validation.grant_void(
        {"reason": "refunded"}, tenant_id="ten_1", customer="cus_1", grant_id="g1", actor="key:k", now=NOW
    )
    assert (voided.grant_id, voided.customer, voided.reason, voided.actor, voided.occurred_at) == (
        "g1", "cus_1", "refunded", "key:k", NOW
    )  # fmt: skip
    assert voided.event_id.startswith("evt_")


@pytest.mark.parametrize(("raw", "code"), [({"amount": "1"}, "unknown_field"), ({"reason": 5}, "invalid_reason"),
                                           ({"reason": "x" * 1001}, "invalid_reason"), ([], "invalid_type")])  # fmt: skip
def test_bad_grant_voids_are_refused(raw: object, code: str) -> None:
    refused(
        lambda r: corrections_validation.grant_void(
            r, tenant_id="ten_1", customer="cus_1", grant_id="g1", actor="key:k", now=NOW
        ),
        code,
        raw,
    )


# usage corrections


def test_a_void_carries_no_quantity_or_properties_and_a_fresh_correction_id() -> None:
    first, second = correct({}, "void"), correct({"reason": "duplicate"}, "void")
    assert (first.action, first.quantity, first.properties, first.reason) == ("void", None, None, None)
    assert second.reason == "duplicate" and second.target_event_id == "evt_1"
    assert (
        first.event_id.startswith("cor_") and len(first.event_id) == 36 and first.event_id != second.event_id
    )


def test_an_amend_keeps_what_was_asked_and_leaves_the_rest_unset() -> None:
    quantity_only = correct({"quantity": 3.5}, "amend")
    assert (quantity_only.quantity, quantity_only.properties) == (Decimal("3.5"), None)
    props_only = correct({"properties": {"model": "small"}}, "amend")
    assert (props_only.quantity, props_only.properties) == (None, {"model": "small"})
    both = correct({"quantity": "0", "properties": {}, "reason": "typo"}, "amend")
    assert (both.quantity, both.properties, both.reason) == (Decimal(0), {}, "typo")


@pytest.mark.parametrize(
    ("raw", "action", "code"),
    [
        ({}, "amend", "empty_amendment"),
        ({"reason": "x"}, "amend", "empty_amendment"),
        ({"quantity": "-1"}, "amend", "negative_decimal"),
        ({"quantity": "x"}, "amend", "invalid_decimal"),
        ({"properties": {"a": {"b": 1}}}, "amend", "invalid_properties"),
        ({"quantity": "1"}, "void", "unknown_field"),
        ({"customer": "c"}, "amend", "unknown_field"),
        ({"reason": 1}, "void", "invalid_reason"),
        ("void", "void", "invalid_type"),
    ],
)
def test_bad_corrections_are_refused(raw: object, action: str, code: str) -> None:
    refused(correct, code, raw, action)
