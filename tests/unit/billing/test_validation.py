"""Turning API input into records: every rule a request must meet, and its stable error code (no I/O)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from pipeline import validation
from pipeline.billing.validation import burn_tables as burn_table_validation
from pipeline.billing.validation import grants as grant_validation
from pipeline.errors import ValidationError
from pipeline.records import BurnRule

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def iso(value: datetime) -> str:
    return value.isoformat()


def event(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"id": "evt_1", "customer": "cus_1", "type": "llm.tokens"}
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not ...}


def usage(raw: object) -> Any:
    return validation.usage(raw, tenant_id="ten_1", now=NOW)


def grant(raw: object, customer: str = "cus_1") -> Any:
    return grant_validation.grant(raw, tenant_id="ten_1", customer=customer, actor="key_admin", now=NOW)


def table(raw: object, name: str = "default") -> Any:
    return burn_table_validation.burn_table(
        raw, tenant_id="ten_1", name=name, version=3, actor="key_admin", now=NOW
    )


def refused(fn: Any, raw: object, code: str, **kwargs: Any) -> ValidationError:
    with pytest.raises(ValidationError) as info:
        fn(raw, **kwargs)
    assert info.value.code == code, info.value.message
    return info.value


# usage


def test_a_minimal_usage_event_gets_defaults() -> None:
    record = usage(event())
    assert (record.event_id, record.tenant_id, record.customer, record.type) == (
        "evt_1",
        "ten_1",
        "cus_1",
        "llm.tokens",
    )
    assert record.quantity == Decimal(1)
    assert record.timestamp == NOW  # no timestamp: the time it was received
    assert record.received_at == NOW
    assert record.properties == {}


def test_a_full_usage_event_keeps_every_field() -> None:
    record = usage(
        event(
            timestamp="2026-03-01T11:00:00+01:00",
            quantity="1532.5",
            properties={"model": "gpt-4o", "cached": False, "n": 3, "t": 0.7},
        )
    )
    assert record.timestamp == datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
    assert record.quantity == Decimal("1532.5")
    assert record.properties == {"model": "gpt-4o", "cached": False, "n": 3, "t": 0.7}
    assert type(record.properties["cached"]) is bool


def test_the_z_suffix_is_accepted() -> None:
    assert usage(event(timestamp="2026-03-01T11:59:00Z")).timestamp == NOW - timedelta(minutes=1)


@pytest.mark.parametrize("raw", [None, [], "event", 1, [{"id": "x"}]])
def test_usage_must_be_an_object(raw: object) -> None:
    refused(usage, raw, "invalid_type")


def test_unknown_fields_are_refused_and_named() -> None:
    error = refused(usage, event(amount="1", zzz=1), "unknown_field")
    assert error.field == "amount"
    assert "amount" in error.message and "zzz" in error.message


@pytest.mark.parametrize(
    ("field", "code"), [("id", "invalid_id"), ("customer", "invalid_customer"), ("type", "invalid_type")]
)
@pytest.mark.parametrize("value", [..., None, "", "   ", 7, ["x"], "x" * 201])
def test_id_customer_and_type_are_required_non_empty_short_strings(
    field: str, code: str, value: object
) -> None:
    error = refused(usage, event(**{field: value}), code)
    assert error.field == field


@pytest.mark.parametrize(
    ("field", "code"), [("id", "invalid_id"), ("customer", "invalid_customer"), ("type", "invalid_type")]
)
@pytest.mark.parametrize(
    "value", [" cus_1", "cus_1 ", "cus_1\n", "\tcus_1", "cus\u200b1", "cus\x1b1", "cus\u00a01"]
)
def test_identifiers_that_only_look_like_others_are_refused_not_trimmed(
    field: str, code: str, value: str
) -> None:
    error = refused(usage, event(**{field: value}), code)
    assert error.field == field


def test_identifiers_may_hold_inner_spaces_and_any_printable_letters() -> None:
    assert usage(event(customer="Ünïcødé customer 7")).customer == "Ünïcødé customer 7"


def test_ids_of_exactly_the_maximum_length_are_accepted() -> None:
    assert usage(event(id="x" * validation.MAX_ID)).event_id == "x" * validation.MAX_ID


@pytest.mark.parametrize(
    "raw", ["2026-03-01T11:00:00", "2026-03-01", 1772366400, "yesterday", "2026-13-01T00:00:00Z"]
)
def test_timestamps_must_be_rfc3339_with_a_zone_offset(raw: object) -> None:
    error = refused(usage, event(timestamp=raw), "invalid_timestamp")
    assert error.field == "timestamp"


def test_a_naive_timestamp_is_refused_for_lacking_an_offset() -> None:
    error = refused(usage, event(timestamp="2026-03-01T11:00:00"), "invalid_timestamp")
    assert "offset" in error.message


@pytest.mark.parametrize(
    "at",
    [
        NOW - timedelta(days=35),
        NOW - timedelta(days=34, hours=23),
        NOW + timedelta(minutes=5),
        NOW,
    ],
)
def test_timestamps_within_35_days_back_and_5_minutes_ahead_are_accepted(at: datetime) -> None:
    assert usage(event(timestamp=iso(at))).timestamp == at


@pytest.mark.parametrize(
    "at",
    [
        NOW - timedelta(days=35, microseconds=1),
        NOW - timedelta(days=400),
        NOW + timedelta(minutes=5, microseconds=1),
        NOW + timedelta(days=1),
    ],
)
def test_timestamps_outside_the_window_are_refused(at: datetime) -> None:
    error = refused(usage, event(timestamp=iso(at)), "timestamp_out_of_window")
    assert error.field == "timestamp"


def test_the_window_compares_instants_not_wall_clocks() -> None:
    # 16:00 at +05:00 is 11:00 UTC: an hour ago, not four hours ahead.
    record = usage(event(timestamp="2026-03-01T16:00:00+05:00"))
    assert record.timestamp == NOW - timedelta(hours=1)
    assert record.timestamp.utcoffset() == timedelta(hours=5)


@pytest.mark.parametrize(
    ("raw", "expected"), [(1, "1"), (0, "0"), ("0.5", "0.5"), (2.25, "2.25"), ("1e3", "1000")]
)
def test_quantity_is_an_exact_decimal(raw: object, expected: str) -> None:
    assert usage(event(quantity=raw)).quantity == Decimal(expected)


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (-1, "negative_decimal"),
        ("-0.5", "negative_decimal"),
        ("abc", "invalid_decimal"),
        (True, "invalid_decimal"),
        (None, "invalid_decimal"),
        ("NaN", "invalid_decimal"),
        ([1], "invalid_decimal"),
        ("0.0000000001", "invalid_decimal"),
    ],
)
def test_bad_quantities_are_refused_with_stable_codes(raw: object, code: str) -> None:
    error = refused(usage, event(quantity=raw), code)
    assert error.field == "quantity"


@pytest.mark.parametrize(
    "props",
    [
        {"nested": {"a": 1}},
        {"list": [1, 2]},
        {"null": None},
        {"": "empty key"},
        {"k" * 101: "long key"},
        {"v": "x" * 1001},
        {"big": 1 << 63},
        {"small": -(1 << 63) - 1},
        {f"k{i}": i for i in range(51)},
    ],
)
def test_properties_must_be_flat_scalars_within_limits(props: dict[str, Any]) -> None:
    refused(usage, event(properties=props), "invalid_properties")


def test_properties_at_their_limits_are_accepted() -> None:
    props: dict[str, Any] = {f"k{i}": i for i in range(48)}
    props["k" * 100] = "x" * 1000
    props["edge"] = (1 << 63) - 1
    assert usage(event(properties=props)).properties == props


@pytest.mark.parametrize("raw", ["flat", ["a"], 1])
def test_properties_must_be_an_object(raw: object) -> None:
    refused(usage, event(properties=raw), "invalid_type")


def test_null_properties_mean_none() -> None:
    assert usage(event(properties=None)).properties == {}


# grant


def test_a_minimal_grant_starts_now_and_never_expires() -> None:
    record = grant({"amount": "100"})
    assert record.amount == Decimal("100")
    assert (record.priority, record.effective_at, record.expires_at, record.reason) == (0, NOW, None, None)
    assert (record.tenant_id, record.customer, record.actor, record.occurred_at) == (
        "ten_1",
        "cus_1",
        "key_admin",
        NOW,
    )
    assert record.grant_id.startswith("grt_") and record.event_id.startswith("evt_")
    assert grant({"amount": "100"}).grant_id != record.grant_id


def test_a_full_grant_keeps_every_field() -> None:
    record = grant(
        {
            "id": "grant-42",
            "amount": 12.5,
            "priority": -7,
            "effective_at": "2026-04-01T00:00:00Z",
            "expires_at": "2026-05-01T00:00:00Z",
            "reason": "promo",
        }
    )
    assert (record.grant_id, record.amount, record.priority, record.reason) == (
        "grant-42",
        Decimal("12.5"),
        -7,
        "promo",
    )
    assert record.effective_at == datetime(2026, 4, 1, tzinfo=UTC)
    assert record.expires_at == datetime(2026, 5, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("amount", "code"),
    [
        ("0", "invalid_amount"),
        (0, "invalid_amount"),
        ("-5", "negative_decimal"),
        (None, "invalid_decimal"),
        ("ten", "invalid_decimal"),
        (True, "invalid_decimal"),
    ],
)
def test_amount_must_be_a_positive_decimal(amount: object, code: str) -> None:
    error = refused(grant, {"amount": amount}, code)
    assert error.field == "amount"


def test_a_missing_amount_is_refused() -> None:
    refused(grant, {}, "invalid_decimal")


@pytest.mark.parametrize("priority", [-1000, 0, 1000])
def test_priority_bounds_are_inclusive(priority: int) -> None:
    assert grant({"amount": "1", "priority": priority}).priority == priority


@pytest.mark.parametrize("priority", [-1001, 1001, True, 1.0, "1", None])
def test_priority_outside_the_bounds_or_not_an_integer_is_refused(priority: object) -> None:
    error = refused(grant, {"amount": "1", "priority": priority}, "invalid_priority")
    assert error.field == "priority"


@pytest.mark.parametrize(
    ("effective", "expires"),
    [("2026-04-01T00:00:00Z", "2026-04-01T00:00:00Z"), ("2026-04-01T00:00:00Z", "2026-03-31T00:00:00Z")],
)
def test_expiry_must_be_after_the_effective_time(effective: str, expires: str) -> None:
    error = refused(
        grant, {"amount": "1", "effective_at": effective, "expires_at": expires}, "invalid_expiry"
    )
    assert error.field == "expires_at"


def test_expiry_is_compared_with_now_when_no_effective_time_is_given() -> None:
    refused(grant, {"amount": "1", "expires_at": iso(NOW)}, "invalid_expiry")
    assert grant({"amount": "1", "expires_at": iso(NOW + timedelta(seconds=1))}).expires_at > NOW


@pytest.mark.parametrize("field", ["effective_at", "expires_at"])
def test_grant_times_need_a_zone_offset(field: str) -> None:
    error = refused(grant, {"amount": "1", field: "2026-04-01T00:00:00"}, "invalid_timestamp")
    assert error.field == field


@pytest.mark.parametrize("reason", [5, ["x"], "x" * 1001])
def test_reason_must_be_a_short_string(reason: object) -> None:
    refused(grant, {"amount": "1", "reason": reason}, "invalid_reason")


def test_grant_unknown_fields_and_non_objects_are_refused() -> None:
    assert refused(grant, {"amount": "1", "customer": "x"}, "unknown_field").field == "customer"
    refused(grant, ["amount"], "invalid_type")


@pytest.mark.parametrize("grant_id", ["", "  ", 5, "x" * 201])
def test_a_given_grant_id_must_be_a_valid_identifier(grant_id: object) -> None:
    refused(grant, {"amount": "1", "id": grant_id}, "invalid_id")


def test_the_customer_of_a_grant_must_be_valid() -> None:
    refused(grant, {"amount": "1"}, "invalid_customer", customer="")


# burn tables


def test_a_burn_table_becomes_a_record_with_exact_rules() -> None:
    record = table(
        {
            "rules": [
                {"type": "llm.tokens", "match": {"model": "gpt-4o"}, "credits_per_unit": "0.00001"},
                {"type": "report.completed", "credits_per_unit": 50, "cost_per_unit": "1.25"},
            ]
        }
    )
    assert (record.tenant_id, record.name, record.version, record.actor) == (
        "ten_1",
        "default",
        3,
        "key_admin",
    )
    assert record.effective_at == NOW and record.occurred_at == NOW
    assert record.event_id.startswith("evt_")
    assert record.rules == (
        BurnRule("llm.tokens", Decimal("0.00001"), {"model": "gpt-4o"}),
        BurnRule("report.completed", Decimal("50"), {}, Decimal("1.25")),
    )


def test_a_burn_table_may_take_effect_in_the_future_or_be_backdated_35_days() -> None:
    rules = [{"type": "t", "credits_per_unit": "1"}]
    future = NOW + timedelta(days=30)
    assert table({"rules": rules, "effective_at": iso(future)}).effective_at == future
    past = NOW - timedelta(days=35)
    assert table({"rules": rules, "effective_at": iso(past)}).effective_at == past
    error = refused(
        table, {"rules": rules, "effective_at": iso(past - timedelta(seconds=1))}, "timestamp_out_of_window"
    )
    assert error.field == "effective_at"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({}, "invalid_burn_table"),  # no rules
        ({"rules": []}, "invalid_burn_table"),
        ({"rules": {"type": "t"}}, "invalid_burn_table"),
        ({"rules": "t=1"}, "invalid_burn_table"),
        (
            {"rules": [{"type": "t", "credits_per_unit": "1"}, {"type": "t", "credits_per_unit": "2"}]},
            "invalid_burn_table",
        ),
        (
            {
                "rules": [
                    {"type": "t", "match": {"m": "a"}, "credits_per_unit": "1"},
                    {"type": "t", "match": {"m": "a"}, "credits_per_unit": "2"},
                ]
            },
            "invalid_burn_table",
        ),
        ({"rules": ["t"]}, "invalid_type"),
        ({"rules": [{"type": "t", "credits_per_unit": "1", "unit": "x"}]}, "unknown_field"),
        ({"rules": [{"type": "", "credits_per_unit": "1"}]}, "invalid_type"),
        ({"rules": [{"credits_per_unit": "1"}]}, "invalid_type"),
        ({"rules": [{"type": "t"}]}, "invalid_decimal"),
        ({"rules": [{"type": "t", "credits_per_unit": "-1"}]}, "negative_decimal"),
        ({"rules": [{"type": "t", "credits_per_unit": "1", "cost_per_unit": "-1"}]}, "negative_decimal"),
        ({"rules": [{"type": "t", "credits_per_unit": "0.0000000001"}]}, "invalid_decimal"),
        ({"rules": [{"type": "t", "credits_per_unit": "1", "match": {"m": {"x": 1}}}]}, "invalid_properties"),
        ({"rules": [{"type": "t", "credits_per_unit": "1"}], "version": 2}, "unknown_field"),
        (
            {"rules": [{"type": "t", "credits_per_unit": "1"}], "effective_at": "2026-03-01"},
            "invalid_timestamp",
        ),
    ],
)
def test_invalid_burn_tables_are_refused_with_stable_codes(body: dict[str, Any], code: str) -> None:
    refused(table, body, code)


def test_a_table_with_more_than_max_rules_is_refused() -> None:
    rules = [{"type": f"t{i}", "credits_per_unit": "1"} for i in range(1001)]
    refused(table, {"rules": rules}, "invalid_burn_table")


def test_rules_that_differ_only_by_bool_versus_number_are_both_valid() -> None:
    rules = burn_table_validation.burn_rules(
        [
            {"type": "t", "match": {"cached": True}, "credits_per_unit": "1"},
            {"type": "t", "match": {"cached": 1}, "credits_per_unit": "2"},
        ]
    )
    assert [r.match for r in rules] == [{"cached": True}, {"cached": 1}]


def test_the_table_name_must_be_valid() -> None:
    refused(table, {"rules": [{"type": "t", "credits_per_unit": "1"}]}, "invalid_name", name="")


def test_new_event_ids_are_unique_and_prefixed() -> None:
    ids = {validation.new_event_id() for _ in range(100)}
    assert len(ids) == 100
    assert all(i.startswith("evt_") and len(i) == 36 for i in ids)


# previews: an event priced without sending it


def preview(raw: object) -> Any:
    return burn_table_validation.preview(raw, tenant_id="ten_1", now=NOW)


def test_a_preview_is_the_usage_record_pricing_reads_with_the_usage_defaults() -> None:
    record = preview({"type": "llm.tokens"})
    assert (record.type, record.quantity, record.properties, record.timestamp) == ("llm.tokens", 1, {}, NOW)
    full = preview({"type": "t", "quantity": "2.5", "properties": {"model": "m"}, "timestamp": iso(NOW)})
    assert (full.quantity, full.properties, full.tenant_id) == (Decimal("2.5"), {"model": "m"}, "ten_1")


def test_a_preview_may_ask_about_any_time() -> None:
    for moment in (NOW - timedelta(days=400), NOW + timedelta(days=30)):
        assert preview({"type": "t", "timestamp": iso(moment)}).timestamp == moment


def test_a_preview_is_checked_as_an_event_is() -> None:
    refused(preview, {"type": "t", "customer": "c"}, "unknown_field")
    refused(preview, {"quantity": 1}, "invalid_type")
    refused(preview, {"type": "t", "quantity": "-1"}, "negative_decimal")
    refused(preview, {"type": "t", "properties": {"a": {"nested": 1}}}, "invalid_properties")
    refused(preview, {"type": "t", "timestamp": "2026-03-01T12:00:00"}, "invalid_timestamp")
    refused(preview, ["not", "an", "object"], "invalid_type")
