"""Exact credit arithmetic: decimals at a fixed scale, never floats."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Context, Decimal, DivisionByZero, InvalidOperation, Overflow

from pipeline.errors import ValidationError

SCALE = 9
QUANTUM = Decimal(1).scaleb(-SCALE)
# Avro decimal(38, 9): at most 29 digits before the point.
MAX_ABS = Decimal(10) ** (38 - SCALE)
ZERO = Decimal(0).quantize(QUANTUM)
# Credits need 38 digits and their products twice that; the default context keeps only 28 and rounds.
CONTEXT = Context(prec=100, rounding=ROUND_HALF_EVEN, traps=[InvalidOperation, DivisionByZero, Overflow])


def quantize(value: Decimal) -> Decimal:
    """Round to the credit scale, half to even (banker's rounding), as every charge is."""
    return value.quantize(QUANTUM, rounding=ROUND_HALF_EVEN, context=CONTEXT)


def parse_decimal(raw: object, field: str, *, allow_negative: bool = False) -> Decimal:
    """Read a decimal given as a string or JSON number, refusing floats' rounding surprises and NaN."""
    if isinstance(raw, bool) or not isinstance(raw, str | int | float | Decimal):
        raise ValidationError(
            f"{field} must be a decimal string or number", code="invalid_decimal", field=field
        )
    try:
        # Numbers arrive from orjson as float; their repr is the shortest round-trip form the client sent.
        value = Decimal(repr(raw)) if isinstance(raw, float) else Decimal(raw)
    except InvalidOperation as exc:
        raise ValidationError(
            f"{field} is not a decimal: {raw!r}", code="invalid_decimal", field=field
        ) from exc
    if not value.is_finite():
        raise ValidationError(f"{field} must be finite", code="invalid_decimal", field=field)
    if value.as_tuple().exponent < -SCALE:  # type: ignore[operator]
        raise ValidationError(
            f"{field} has more than {SCALE} decimal places", code="invalid_decimal", field=field
        )
    if value.copy_abs() >= MAX_ABS:
        raise ValidationError(f"{field} is too large", code="invalid_decimal", field=field)
    if value < 0 and not allow_negative:
        raise ValidationError(f"{field} must not be negative", code="negative_decimal", field=field)
    return value.quantize(QUANTUM, context=CONTEXT)


def format_decimal(value: Decimal) -> str:
    """The API's text form: no exponent, no trailing zeros beyond the integer."""
    text = format(value.normalize(CONTEXT), "f")
    return "0" if text in ("-0", "") else text
