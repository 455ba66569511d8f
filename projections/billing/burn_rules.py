"""Burn rules as stored JSON: the `rules` column of burn_table_versions and the API's view of it."""

from __future__ import annotations

from collections.abc import Iterable

from pipeline.money import format_decimal
from pipeline.records import BurnRule


def rules_to_json(rules: Iterable[BurnRule]) -> list[dict[str, object]]:
    return [
        {
            "type": r.type,
            "match": r.match,
            "credits_per_unit": format_decimal(r.credits_per_unit),
            "cost_per_unit": None if r.cost_per_unit is None else format_decimal(r.cost_per_unit),
        }
        for r in rules
    ]


def rules_from_json(raw: Iterable[dict[str, object]]) -> tuple[BurnRule, ...]:
    from decimal import Decimal

    return tuple(
        BurnRule(
            type=str(r["type"]),
            match=dict(r["match"]),  # type: ignore[call-overload]
            credits_per_unit=Decimal(str(r["credits_per_unit"])),
            cost_per_unit=None if r["cost_per_unit"] is None else Decimal(str(r["cost_per_unit"])),
        )
        for r in raw
    )
