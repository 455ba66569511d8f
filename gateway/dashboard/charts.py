"""Charts as the usage pages draw them: figures per UTC day in a few named series, or one figure per name.
Pure: the rows come from projections/analytics_reads.py; static/charts.js draws what `data()` returns,
and the page's numbers table shows the same figures."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, Literal

from pipeline.money import format_decimal

Kind = Literal["lines", "steps", "bars"]


def span(first: date, last: date) -> tuple[date, ...]:
    """Every day from `first` to `last`, both included."""
    return tuple(first + timedelta(days=n) for n in range((last - first).days + 1))


def _text(value: Decimal | None) -> str | None:
    return None if value is None else format_decimal(value)


@dataclass(frozen=True, slots=True)
class Series:
    label: str
    values: tuple[Decimal | None, ...]  # None: nothing to show that day (no balance yet)
    others: bool = False  # the sum of the keys not shown on their own

    @property
    def total(self) -> Decimal:
        return sum((v for v in self.values if v is not None), Decimal(0))


@dataclass(frozen=True, slots=True)
class DailyChart:
    """One figure per day and series; `unit` names what the figures count."""

    days: tuple[date, ...]
    series: tuple[Series, ...]
    unit: str
    kind: Kind = "lines"

    @property
    def empty(self) -> bool:
        return not self.series

    def rows(self) -> list[tuple[date, list[Decimal | None], Decimal]]:
        """The numbers table: each day with its series' figures and their total."""
        table = []
        for i, day in enumerate(self.days):
            values = [s.values[i] for s in self.series]
            table.append((day, values, sum((v for v in values if v is not None), Decimal(0))))
        return table

    def data(self) -> dict[str, Any]:
        """What the page's script draws: days as UTC midnights in seconds, figures as exact decimal text."""
        return {
            "kind": self.kind,
            "unit": self.unit,
            "x": [int(datetime.combine(d, time(), UTC).timestamp()) for d in self.days],
            "days": [d.isoformat() for d in self.days],
            "series": [
                {
                    "label": s.label,
                    "others": s.others,
                    "values": [_text(v) for v in s.values],
                    "total": format_decimal(s.total),
                }
                for s in self.series
            ],
        }


@dataclass(frozen=True, slots=True)
class BarChart:
    """One figure per name, largest first."""

    bars: tuple[tuple[str, Decimal], ...]
    unit: str

    @property
    def empty(self) -> bool:
        return not self.bars

    def data(self) -> dict[str, Any]:
        return {
            "kind": "bars",
            "unit": self.unit,
            "labels": [name for name, _ in self.bars],
            "values": [format_decimal(v) for _, v in self.bars],
        }


def per_day(
    days: tuple[date, ...],
    rows: Iterable[tuple[date, str | None, Decimal]],
    *,
    unit: str,
    top: int,
    others: str,
    label: Callable[[str], str] = str,
) -> DailyChart:
    """One series per key of the `top` largest totals, largest first, then one of every other key summed
    (rows keyed None are others already); zero on the days without a row."""
    figures: dict[str | None, dict[date, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for day, key, value in rows:
        figures[key][day] += value
    totals = {key: sum(by_day.values(), Decimal(0)) for key, by_day in figures.items() if key is not None}
    kept = sorted(totals, key=lambda k: (-totals[k], k))[:top]
    rest: dict[date, Decimal] = defaultdict(Decimal)
    for key, by_day in figures.items():
        if key not in kept:
            for day, value in by_day.items():
                rest[day] += value
    series = [Series(label(key), tuple(figures[key].get(d, Decimal(0)) for d in days)) for key in kept]
    if rest:
        series.append(Series(others, tuple(rest.get(d, Decimal(0)) for d in days), others=True))
    return DailyChart(days, tuple(series), unit)


def carried(
    days: tuple[date, ...],
    label: str,
    opening: Decimal | None,
    closing: Iterable[tuple[date, Decimal]],
    unit: str,
) -> DailyChart:
    """A level at the end of each day: the day's closing figure, else the one before it carried forward."""
    known = dict(closing)
    values: list[Decimal | None] = []
    level = opening
    for day in days:
        level = known.get(day, level)
        values.append(level)
    has_any = any(v is not None for v in values)
    return DailyChart(days, (Series(label, tuple(values)),) if has_any else (), unit, "steps")


def agent_labels(names: Iterable[tuple[str, str | None]]) -> dict[str, str]:
    """An agent's name as its label, with its id where two agents share a name or it has none."""
    pairs = dict(names)
    counts: dict[str, int] = defaultdict(int)
    for name in pairs.values():
        if name:
            counts[name] += 1
    return {
        agent_id: name if name and counts[name] == 1 else (f"{name} ({agent_id})" if name else agent_id)
        for agent_id, name in pairs.items()
    }
