"""Burn tables: validating rules, finding the version in force, and pricing one usage record."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from pipeline.errors import UnpricedError, ValidationError
from pipeline.money import CONTEXT, quantize
from pipeline.records import BurnRule, BurnTablePublished, PropertyValue, UsageRecorded

MAX_RULES = 1000


@dataclass(frozen=True, slots=True)
class Price:
    """What one usage record costs, and which table version and rule said so."""

    credits: Decimal
    cost: Decimal | None
    table: str
    version: int
    rule_index: int


def validate_rules(rules: Sequence[BurnRule]) -> None:
    """Refuse tables that are empty, oversized, or where two rules claim the same events."""
    if not rules:
        raise ValidationError(
            "a burn table needs at least one rule", code="invalid_burn_table", field="rules"
        )
    if len(rules) > MAX_RULES:
        raise ValidationError(f"a burn table has at most {MAX_RULES} rules", code="invalid_burn_table")
    seen: dict[tuple[str, frozenset[tuple[str, tuple[bool, PropertyValue]]]], int] = {}
    for i, rule in enumerate(rules):
        if not rule.type:
            raise ValidationError(f"rules[{i}].type must not be empty", code="invalid_burn_table")
        key = (rule.type, frozenset((k, _canonical(v)) for k, v in rule.match.items()))
        if key in seen:
            raise ValidationError(
                f"rules[{i}] repeats rules[{seen[key]}] (same type and match)", code="invalid_burn_table"
            )
        seen[key] = i


def _canonical(value: PropertyValue) -> tuple[bool, PropertyValue]:
    # 1 and 1.0 are the same number; True is not a number here, though True == 1 (and hashes alike).
    if isinstance(value, float) and value.is_integer():
        return False, int(value)
    return isinstance(value, bool), value


def _equal(expected: PropertyValue, actual: PropertyValue | None) -> bool:
    if actual is None:
        return False
    if isinstance(expected, bool) or isinstance(actual, bool):
        return type(expected) is type(actual) and expected == actual
    if isinstance(expected, str) or isinstance(actual, str):
        return type(expected) is type(actual) and expected == actual
    return expected == actual


def matches(match: Mapping[str, PropertyValue], properties: Mapping[str, PropertyValue]) -> bool:
    """Whether every property in `match` has the same value (and kind of value) in `properties`."""
    return all(_equal(v, properties.get(k)) for k, v in match.items())


def matching_rule(rules: Sequence[BurnRule], usage: UsageRecorded) -> int | None:
    """Index of the most specific rule matching the record; ties go to the earlier rule."""
    best: int | None = None
    best_size = -1
    for i, rule in enumerate(rules):
        if rule.type != usage.type or len(rule.match) <= best_size:
            continue
        if matches(rule.match, usage.properties):
            best, best_size = i, len(rule.match)
    return best


def version_in_force(versions: Sequence[BurnTablePublished], at: datetime) -> BurnTablePublished | None:
    """The newest version whose effective time is at or before `at`: later versions supersede."""
    chosen: BurnTablePublished | None = None
    for v in versions:
        if v.effective_at <= at and (chosen is None or v.version > chosen.version):
            chosen = v
    return chosen


def price(versions: Sequence[BurnTablePublished], usage: UsageRecorded) -> Price:
    """Price a usage record with the table version in force at its event time, or raise UnpricedError."""
    table = version_in_force(versions, usage.timestamp)
    if table is None:
        raise UnpricedError(f"no burn-table version is in force at {usage.timestamp.isoformat()}")
    index = matching_rule(table.rules, usage)
    if index is None:
        raise UnpricedError(
            f"burn table {table.name!r} v{table.version} has no rule for type {usage.type!r} "
            "with these properties"
        )
    rule = table.rules[index]
    cost = (
        None if rule.cost_per_unit is None else quantize(CONTEXT.multiply(usage.quantity, rule.cost_per_unit))
    )
    return Price(
        credits=quantize(CONTEXT.multiply(usage.quantity, rule.credits_per_unit)),
        cost=cost,
        table=table.name,
        version=table.version,
        rule_index=index,
    )
