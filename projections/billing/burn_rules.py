"""Burn rules as stored JSON: the `rules` column of burn_table_versions and the API's view of it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

import asyncpg

from pipeline.money import format_decimal
from pipeline.records import BurnRule, BurnTablePublished


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
    return tuple(
        BurnRule(
            type=str(r["type"]),
            match=dict(r["match"]),  # type: ignore[call-overload]
            credits_per_unit=Decimal(str(r["credits_per_unit"])),
            cost_per_unit=None if r["cost_per_unit"] is None else Decimal(str(r["cost_per_unit"])),
        )
        for r in raw
    )


def version_from_row(r: asyncpg.Record | Mapping[str, Any]) -> BurnTablePublished:
    """A stored burn_table_versions row (every column) as the record that published it."""
    return BurnTablePublished(
        event_id=r["event_id"],
        tenant_id=r["tenant_id"],
        name=r["name"],
        version=r["version"],
        effective_at=r["effective_at"],
        rules=rules_from_json(r["rules"]),
        actor=r["published_by"],
        occurred_at=r["published_at"],
    )
