"""Exact credit arithmetic: parsing API decimals, banker's rounding, the API's text form (no I/O)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline.errors import ValidationError
from pipeline.money import MAX_ABS, QUANTUM, SCALE, ZERO, format_decimal, parse_decimal, quantize

# Every decimal that fits Avro decimal(38, 9): up to 29 digits before the point, 9 after.
avro_decimals = st.integers(min_value=-(10**38) + 1, max_value=10**38 - 1).map(lambda n: Decimal(f"{n}E-9"))


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1", "1"),
        ("0.125", "0.125"),
        ("2.50", "2.5"),
        ("1e3", "1000"),
        ("1E-9", "0.000000001"),
        ("0.000000001", "0.000000001"),
        (0, "0"),
        (7, "7"),
        (10**20, "100000000000000000000"),
        (Decimal("3.14"), "3.14"),
    ],
)
def test_parses_strings_ints_and_decimals_exactly(raw: object, expected: str) -> None:
    assert parse_decimal(raw, "quantity") == Decimal(expected)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(0.1, "0.1"), (1.5, "1.5"), (2.675, "2.675"), (1e-9, "0.000000001"), (1e20, "100000000000000000000")],
)
def test_json_numbers_parsed_as_floats_keep_the_digits_the_client_sent(raw: float, expected: str) -> None:
    # Decimal(0.1) would be 0.1000000000000000055511151231257827..., not what the client wrote.
    assert parse_decimal(raw, "quantity") == Decimal(expected)


def test_parsed_values_sit_at_the_credit_scale() -> None:
    value = parse_decimal("2.5", "amount")
    assert value.as_tuple().exponent == -SCALE
    assert str(value) == "2.500000000"


@pytest.mark.parametrize(
    "raw",
    [
        "NaN",
        "nan",
        "sNaN",
        "Infinity",
        "-Infinity",
        "inf",
        float("nan"),
        float("inf"),
        float("-inf"),
        Decimal("NaN"),
        Decimal("Infinity"),
    ],
)
def test_nan_and_infinities_are_refused(raw: object) -> None:
    with pytest.raises(ValidationError) as info:
        parse_decimal(raw, "quantity", allow_negative=True)
    assert info.value.code == "invalid_decimal"
    assert info.value.field == "quantity"


@pytest.mark.parametrize("raw", ["0.0000000001", "1.0000000000", "1E-10", 1e-10, Decimal("0.1234567891")])
def test_more_than_nine_decimal_places_are_refused_not_rounded(raw: object) -> None:
    with pytest.raises(ValidationError, match="more than 9 decimal places") as info:
        parse_decimal(raw, "amount")
    assert info.value.code == "invalid_decimal"


@pytest.mark.parametrize("raw", ["abc", "", "1.2.3", "0x10", "1,5", "one"])
def test_malformed_strings_are_refused(raw: str) -> None:
    with pytest.raises(ValidationError) as info:
        parse_decimal(raw, "amount")
    assert info.value.code == "invalid_decimal"
    assert info.value.field == "amount"


@pytest.mark.parametrize("raw", [True, False, None, [1], {"value": 1}, b"1", object()])
def test_non_numbers_including_booleans_are_refused(raw: object) -> None:
    with pytest.raises(ValidationError) as info:
        parse_decimal(raw, "quantity")
    assert info.value.code == "invalid_decimal"


@pytest.mark.parametrize("raw", ["-1", -1, -0.5, "-0.000000001", Decimal("-3")])
def test_negative_values_are_refused_unless_allowed(raw: object) -> None:
    with pytest.raises(ValidationError) as info:
        parse_decimal(raw, "quantity")
    assert info.value.code == "negative_decimal"
    assert info.value.field == "quantity"
    assert parse_decimal(raw, "quantity", allow_negative=True) < 0


@pytest.mark.parametrize("raw", [str(MAX_ABS), 10**29, "-" + str(MAX_ABS), "1e29", 1e40, "1e1000"])
def test_values_beyond_avro_decimal_38_9_are_refused(raw: object) -> None:
    with pytest.raises(ValidationError, match="too large") as info:
        parse_decimal(raw, "amount", allow_negative=True)
    assert info.value.code == "invalid_decimal"


@pytest.mark.parametrize(
    "raw",
    [
        "100000000000000000000",  # 21 digits: more than the default context's 28 once at 9 places
        "12345678901234567890.5",
        "99999999999999999999999999999.999999999",  # the largest decimal(38, 9)
        "-99999999999999999999999999999.999999999",
    ],
)
def test_the_whole_avro_decimal_range_parses_exactly(raw: str) -> None:
    assert parse_decimal(raw, "amount", allow_negative=True) == Decimal(raw)


@given(avro_decimals)
def test_every_avro_decimal_parses_to_itself(value: Decimal) -> None:
    assert parse_decimal(str(value), "amount", allow_negative=True) == value
    assert parse_decimal(value, "amount", allow_negative=True) == value


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0.0000000005", "0.000000000"),  # half to even: 0 is even
        ("0.0000000015", "0.000000002"),  # half to even: 2 is even
        ("0.0000000025", "0.000000002"),
        ("0.00000000250000001", "0.000000003"),  # more than half rounds up
        ("-0.0000000025", "-0.000000002"),
        ("1.2345678904", "1.234567890"),
        ("1.2345678906", "1.234567891"),
        ("7", "7.000000000"),
    ],
)
def test_quantize_rounds_half_to_even_at_nine_places(value: str, expected: str) -> None:
    result = quantize(Decimal(value))
    assert result == Decimal(expected)
    assert result.as_tuple().exponent == -SCALE


def test_quantize_keeps_large_products_exact() -> None:
    # 30 integer digits and more: beyond the default 28-digit context, which would raise or round.
    big = Decimal("123456789012345678901234567890.0000000015")
    assert quantize(big) == Decimal("123456789012345678901234567890.000000002")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1.500000000", "1.5"),
        ("100.000000000", "100"),
        ("1E+2", "100"),
        ("0E-9", "0"),
        ("-0.000", "0"),
        ("0", "0"),
        ("0.000000001", "0.000000001"),
        ("-2.50", "-2.5"),
        ("12345678901234567890.123456789", "12345678901234567890.123456789"),
        ("99999999999999999999999999999.999999999", "99999999999999999999999999999.999999999"),
    ],
)
def test_format_decimal_has_no_exponent_and_no_needless_zeros(value: str, expected: str) -> None:
    assert format_decimal(Decimal(value)) == expected


@given(avro_decimals)
def test_format_decimal_round_trips_through_parse(value: Decimal) -> None:
    text = format_decimal(value)
    assert "E" not in text and "e" not in text
    assert parse_decimal(text, "amount", allow_negative=True) == value


def test_constants_describe_nine_places() -> None:
    assert Decimal("0.000000001") == QUANTUM
    assert ZERO == 0 and ZERO.as_tuple().exponent == -9
