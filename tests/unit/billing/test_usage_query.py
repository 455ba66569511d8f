"""Reading a usage query: defaults, the range widened to whole windows, bounds, grouping and filters."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from pipeline.billing.usage_query import (
    CHARGES,
    MAX_BUCKETS,
    ROLLUP,
    UsageQuery,
    ceiling,
    check_properties,
    floor,
    following,
    parse,
)
from pipeline.errors import ValidationError

NOW = datetime(2025, 3, 14, 15, 9, 26, tzinfo=UTC)


def code_of(params: list[tuple[str, str]]) -> str:
    with pytest.raises(ValidationError) as refused:
        parse(params, NOW)
    return refused.value.code


def test_defaults_are_thirty_days_by_day_widened_to_whole_days() -> None:
    query = parse([], NOW)
    assert (query.window, query.start, query.end) == (
        "day", datetime(2025, 2, 12, tzinfo=UTC), datetime(2025, 3, 15, tzinfo=UTC)
    )  # fmt: skip
    assert (query.customer, query.types, query.group_by, query.source) == (None, (), (), ROLLUP)


def test_an_aligned_range_is_kept_and_an_unaligned_one_widened() -> None:
    aligned = parse(
        [("from", "2025-01-01T00:00:00Z"), ("to", "2025-01-02T00:00:00Z"), ("window", "hour")], NOW
    )
    assert (aligned.start, aligned.end) == (
        datetime(2025, 1, 1, tzinfo=UTC),
        datetime(2025, 1, 2, tzinfo=UTC),
    )
    widened = parse(
        [("from", "2025-01-01T10:30:00+02:00"), ("to", "2025-02-03T00:00:01Z"), ("window", "month")], NOW
    )
    assert (widened.start, widened.end) == (
        datetime(2025, 1, 1, tzinfo=UTC),
        datetime(2025, 3, 1, tzinfo=UTC),
    )


def test_window_arithmetic_is_utc_and_knows_month_lengths() -> None:
    assert following(datetime(2024, 2, 1, tzinfo=UTC), "month") == datetime(2024, 3, 1, tzinfo=UTC)
    assert following(datetime(2024, 12, 1, tzinfo=UTC), "month") == datetime(2025, 1, 1, tzinfo=UTC)
    assert floor(datetime(2025, 1, 1, 1, 0, tzinfo=UTC).astimezone(), "day") == datetime(
        2025, 1, 1, tzinfo=UTC
    )
    assert ceiling(datetime(2025, 1, 1, tzinfo=UTC), "hour") == datetime(2025, 1, 1, tzinfo=UTC)


def test_types_and_group_by_take_repeats_and_comma_lists() -> None:
    query = parse([("type", "a,b"), ("type", "c"), ("type", "a"), ("group_by", "type, property.model")], NOW)
    assert query.types == ("a", "b", "c")
    assert query.group_by == ("type", "property.model")
    assert (query.property_names, query.source) == (frozenset({"model"}), CHARGES)


def test_property_filters_read_the_charges() -> None:
    query = parse([("property.model", "big"), ("property.model", "small"), ("property.tier", "1")], NOW)
    assert query.properties == (("model", ("big", "small")), ("tier", ("1",)))
    assert query.source == CHARGES


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ([("window", "week")], "invalid_window"),
        ([("from", "yesterday")], "invalid_time"),
        ([("to", "2025-01-01T00:00:00")], "invalid_time"),
        ([("from", "2025-01-02T00:00:00Z"), ("to", "2025-01-01T00:00:00Z")], "invalid_time"),
        ([("from", "0001-01-01T00:00:00+05:00")], "invalid_time"),
        ([("to", "9999-12-31T23:30:00Z"), ("window", "month")], "invalid_time"),
        ([("group_by", "customer,colour")], "invalid_group_by"),
        ([("group_by", "property.")], "invalid_group_by"),
        ([("group_by", ",".join(f"property.p{i}" for i in range(6)))], "invalid_group_by"),
        ([("property.", "x")], "invalid_property"),
        (
            [("window", "hour"), ("from", "2025-01-01T00:00:00Z"), ("to", "2025-02-01T00:00:01Z")],
            "too_many_buckets",
        ),
    ],
)
def test_bad_queries_are_refused_with_a_stable_code(params: list[tuple[str, str]], code: str) -> None:
    assert code_of(params) == code


def test_at_most_max_buckets() -> None:
    hours = parse([("window", "hour"), ("from", "2025-01-01T00:00:00Z"), ("to", "2025-02-01T00:00:00Z")], NOW)
    assert (hours.end - hours.start).days * 24 == MAX_BUCKETS


def test_only_properties_a_rule_matches_on_may_be_used() -> None:
    query = UsageQuery("day", NOW, NOW, group_by=("property.model",), properties=(("tier", ("1",)),))
    check_properties(query, ["model", "tier", "region"])
    with pytest.raises(ValidationError) as refused:
        check_properties(query, ["model"])
    assert refused.value.code == "property_not_filterable"
    assert "tier" in refused.value.message and "model" in refused.value.message
