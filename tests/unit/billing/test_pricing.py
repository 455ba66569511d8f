"""Burn tables: rule validation, rule matching, the version in force, and pricing one usage record."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline.billing.pricing import MAX_RULES, matching_rule, price, validate_rules, version_in_force
from pipeline.errors import UnpricedError, ValidationError
from pipeline.records import BurnRule, BurnTablePublished, PropertyValue, UsageRecorded

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def rule(
    type_: str = "llm.tokens", credits: str = "1", cost: str | None = None, **match: PropertyValue
) -> BurnRule:
    return BurnRule(
        type=type_,
        credits_per_unit=Decimal(credits),
        match=dict(match),
        cost_per_unit=None if cost is None else Decimal(cost),
    )


def table(
    version: int, effective_at: datetime, *rules: BurnRule, name: str = "default"
) -> BurnTablePublished:
    return BurnTablePublished(
        event_id=f"evt_table_v{version}",
        tenant_id="ten_1",
        name=name,
        version=version,
        effective_at=effective_at,
        rules=rules,
        actor="key_admin",
        occurred_at=effective_at,
    )


def usage(
    type_: str = "llm.tokens", quantity: str = "1", at: datetime = T0, **properties: PropertyValue
) -> UsageRecorded:
    return UsageRecorded(
        event_id="evt_1",
        tenant_id="ten_1",
        customer="cus_1",
        type=type_,
        timestamp=at,
        quantity=Decimal(quantity),
        properties=dict(properties),
    )


# validate_rules


def test_an_empty_table_is_refused() -> None:
    with pytest.raises(ValidationError) as info:
        validate_rules([])
    assert info.value.code == "invalid_burn_table"
    assert info.value.field == "rules"


def test_more_than_max_rules_are_refused() -> None:
    rules = [rule(f"type.{i}") for i in range(MAX_RULES + 1)]
    with pytest.raises(ValidationError, match="at most") as info:
        validate_rules(rules)
    assert info.value.code == "invalid_burn_table"
    validate_rules(rules[:MAX_RULES])  # exactly the limit is fine


def test_a_rule_with_an_empty_type_is_refused() -> None:
    with pytest.raises(ValidationError, match=r"rules\[1\]\.type") as info:
        validate_rules([rule("a"), rule("")])
    assert info.value.code == "invalid_burn_table"


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ({}, {}),
        ({"model": "gpt-4o"}, {"model": "gpt-4o"}),
        ({"model": "gpt-4o", "direction": "output"}, {"direction": "output", "model": "gpt-4o"}),
        ({"tier": 1}, {"tier": 1.0}),  # 1 and 1.0 are the same number
        ({"cached": True}, {"cached": True}),
    ],
)
def test_two_rules_with_the_same_type_and_match_are_refused(
    first: dict[str, PropertyValue], second: dict[str, PropertyValue]
) -> None:
    with pytest.raises(ValidationError, match=r"rules\[1\] repeats rules\[0\]") as info:
        validate_rules([rule(credits="1", **first), rule(credits="2", **second)])
    assert info.value.code == "invalid_burn_table"


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ({"tier": True}, {"tier": 1}),  # True == 1 in Python, but matching keeps them apart
        ({"tier": 1.0}, {"tier": True}),
        ({"tier": False}, {"tier": 0}),
        ({"tier": "1"}, {"tier": 1}),
        ({"tier": "True"}, {"tier": True}),
        ({"model": "a"}, {"model": "b"}),
        ({"model": "a"}, {"model": "a", "direction": "output"}),
    ],
)
def test_rules_that_match_different_events_are_both_allowed(
    first: dict[str, PropertyValue], second: dict[str, PropertyValue]
) -> None:
    validate_rules([rule(**first), rule(**second)])  # raises if it wrongly sees a duplicate
    assert matching_rule([rule(**first), rule(**second)], usage(**second)) == 1


def test_same_match_for_different_types_is_allowed() -> None:
    rules = [rule("llm.tokens", model="a"), rule("llm.calls", model="a")]
    validate_rules(rules)
    assert matching_rule(rules, usage("llm.calls", model="a")) == 1


# matching_rule


def test_no_rule_for_the_type_matches_nothing() -> None:
    assert matching_rule([rule("llm.tokens")], usage("report.completed")) is None


def test_a_rule_without_match_catches_every_event_of_its_type() -> None:
    assert matching_rule([rule()], usage(model="gpt-4o", direction="output")) == 0


def test_every_match_entry_must_be_present_and_equal() -> None:
    rules = [rule(model="gpt-4o", direction="output")]
    assert matching_rule(rules, usage(model="gpt-4o", direction="output", region="eu")) == 0
    assert matching_rule(rules, usage(model="gpt-4o")) is None
    assert matching_rule(rules, usage(model="gpt-4o", direction="input")) is None


def test_the_most_specific_matching_rule_wins_whatever_its_position() -> None:
    rules = [
        rule(credits="1"),
        rule(credits="2", model="gpt-4o", direction="output"),
        rule(credits="3", model="gpt-4o"),
    ]
    assert matching_rule(rules, usage(model="gpt-4o", direction="output")) == 1
    assert matching_rule(rules, usage(model="gpt-4o", direction="input")) == 2
    assert matching_rule(rules, usage(model="mini")) == 0


def test_equally_specific_matches_go_to_the_earlier_rule() -> None:
    rules = [rule(credits="1", model="gpt-4o"), rule(credits="2", direction="output")]
    assert matching_rule(rules, usage(model="gpt-4o", direction="output")) == 0
    assert matching_rule(list(reversed(rules)), usage(model="gpt-4o", direction="output")) == 0


@pytest.mark.parametrize(
    ("expected", "actual", "matches"),
    [
        (1, 1, True),
        (1, 1.0, True),
        (1.0, 1, True),
        (2.5, 2.5, True),
        (1, True, False),
        (True, 1, False),
        (True, 1.0, False),
        (False, 0, False),
        (0, False, False),
        (True, True, True),
        (False, False, True),
        (True, False, False),
        ("1", 1, False),
        (1, "1", False),
        ("true", True, False),
        (True, "true", False),
        ("gpt-4o", "gpt-4o", True),
        ("gpt-4o", "GPT-4o", False),
    ],
)
def test_property_comparison_is_strict_about_bool_number_and_string(
    expected: PropertyValue, actual: PropertyValue, matches: bool
) -> None:
    found = matching_rule([rule(tier=expected)], usage(tier=actual))
    assert (found == 0) is matches


# version_in_force


def test_no_version_before_the_first_takes_effect() -> None:
    assert version_in_force([table(1, T0, rule())], T0 - timedelta(microseconds=1)) is None
    assert version_in_force([], T0) is None


def test_a_version_is_in_force_from_its_effective_time_inclusive() -> None:
    v1 = table(1, T0, rule())
    assert version_in_force([v1], T0) is v1


def test_the_newest_version_already_effective_is_in_force() -> None:
    v1, v2, v3 = (
        table(1, T0, rule()),
        table(2, T0 + timedelta(days=1), rule()),
        table(3, T0 + timedelta(days=2), rule()),
    )
    versions = [v1, v2, v3]
    assert version_in_force(versions, T0 + timedelta(hours=1)) is v1
    assert version_in_force(versions, T0 + timedelta(days=1)) is v2
    assert version_in_force(versions, T0 + timedelta(days=5)) is v3
    assert version_in_force(list(reversed(versions)), T0 + timedelta(days=1, hours=1)) is v2


def test_a_backdated_later_version_supersedes_earlier_versions() -> None:
    v1 = table(1, T0, rule())
    v2 = table(2, T0 - timedelta(days=3), rule())  # published later, but effective earlier
    assert version_in_force([v1, v2], T0 + timedelta(hours=1)) is v2
    assert version_in_force([v1, v2], T0 - timedelta(days=1)) is v2
    assert version_in_force([v1, v2], T0 - timedelta(days=4)) is None


# price


def test_price_multiplies_quantity_by_credits_per_unit_exactly() -> None:
    v1 = table(1, T0, rule(credits="0.000003", model="gpt-4o"), rule(credits="0.1"))
    quote = price([v1], usage(quantity="1532", model="gpt-4o"))
    assert quote.credits == Decimal("0.004596")
    assert quote.credits.as_tuple().exponent == -9
    assert (quote.table, quote.version, quote.rule_index) == ("default", 1, 0)
    assert quote.cost is None


def test_price_floats_would_get_wrong_is_exact() -> None:
    # 0.1 * 3 as floats is 0.30000000000000004
    assert price([table(1, T0, rule(credits="0.1"))], usage(quantity="3")).credits == Decimal("0.3")


def test_price_reports_cost_per_unit_times_quantity() -> None:
    quote = price([table(1, T0, rule(credits="2", cost="0.000000125"))], usage(quantity="10"))
    assert quote.credits == Decimal("20")
    assert quote.cost == Decimal("0.00000125")


def test_price_rounds_half_to_even_at_nine_places() -> None:
    rules = (rule(credits="0.000000001"),)
    assert price([table(1, T0, *rules)], usage(quantity="0.5")).credits == Decimal("0")
    assert price([table(1, T0, *rules)], usage(quantity="1.5")).credits == Decimal("0.000000002")
    assert price([table(1, T0, *rules)], usage(quantity="2.5")).credits == Decimal("0.000000002")


def test_price_is_exact_beyond_28_significant_digits() -> None:
    # The exact product is 1234567891357.691346912123456789; the default context would round it first.
    quote = price([table(1, T0, rule(credits="1.000000001"))], usage(quantity="1234567890123.123456789"))
    assert quote.credits == Decimal("1234567891357.691346912")
    huge = price([table(1, T0, rule(credits="100"))], usage(quantity="9000000000000000000"))
    assert huge.credits == Decimal("900000000000000000000")


@given(
    quantity=st.integers(0, 10**20).map(lambda n: Decimal(f"{n}E-9")),
    credits=st.integers(0, 10**20).map(lambda n: Decimal(f"{n}E-9")),
)
def test_price_equals_the_exact_product_rounded_half_even(quantity: Decimal, credits: Decimal) -> None:
    quote = price([table(1, T0, rule(credits=str(credits)))], usage(quantity=str(quantity)))
    # Integer arithmetic as the oracle: the product has 18 places; round to 9, half to even.
    whole, rest = divmod(int(quantity.scaleb(9)) * int(credits.scaleb(9)), 10**9)
    if rest > 5 * 10**8 or (rest == 5 * 10**8 and whole % 2 == 1):
        whole += 1
    assert quote.credits == Decimal(f"{whole}E-9")


def test_price_uses_the_version_in_force_at_event_time() -> None:
    v1 = table(1, T0, rule(credits="1"))
    v2 = table(2, T0 + timedelta(days=1), rule(credits="2"))
    early = price([v1, v2], usage(quantity="10", at=T0 + timedelta(hours=23)))
    late = price([v1, v2], usage(quantity="10", at=T0 + timedelta(days=1)))
    assert (early.version, early.credits) == (1, Decimal("10"))
    assert (late.version, late.credits) == (2, Decimal("20"))


def test_outcome_pricing_rates_a_report_and_its_tokens_separately() -> None:
    v1 = table(
        1, T0, rule("report.completed", credits="50"), rule("llm.tokens", credits="0", purpose="report")
    )
    assert price([v1], usage("report.completed")).credits == Decimal("50")
    assert price([v1], usage("llm.tokens", quantity="90000", purpose="report")).credits == Decimal("0")


def test_unpriced_when_no_version_is_in_force() -> None:
    with pytest.raises(UnpricedError, match="no burn-table version") as info:
        price([table(1, T0, rule())], usage(at=T0 - timedelta(seconds=1)))
    assert info.value.code == "unpriced"


def test_unpriced_when_no_rule_matches() -> None:
    with pytest.raises(UnpricedError, match=r"no rule for type 'llm\.calls'") as info:
        price([table(1, T0, rule("llm.tokens"))], usage("llm.calls"))
    assert info.value.code == "unpriced"


def test_unpriced_when_the_version_in_force_lacks_a_rule_an_older_version_had() -> None:
    v1 = table(1, T0, rule("llm.calls"))
    v2 = table(2, T0 + timedelta(days=1), rule("llm.tokens"))
    assert price([v1, v2], usage("llm.calls", at=T0 + timedelta(hours=1))).version == 1
    with pytest.raises(UnpricedError):
        price([v1, v2], usage("llm.calls", at=T0 + timedelta(days=2)))
