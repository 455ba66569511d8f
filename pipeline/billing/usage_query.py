"""A usage query (GET /v1/usage) read from its parameters: the range widened to whole windows, the
grouping, the filters, and whether the rollups can answer it or the charges must."""

from __future__ import annotations

import calendar
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pipeline.errors import ValidationError

WINDOWS = ("hour", "day", "month")
DEFAULT_WINDOW = "day"
DEFAULT_SPAN = timedelta(days=30)
MAX_BUCKETS = 744  # 31 days of hours; about two years of days
MAX_GROUP_BY = 5
PROPERTY = "property."
ROLLUP = "rollup"
CHARGES = "charges"


@dataclass(frozen=True, slots=True)
class UsageQuery:
    """What to sum: `start` and `end` (exclusive) are on window boundaries."""

    window: str
    start: datetime
    end: datetime
    customer: str | None = None
    types: tuple[str, ...] = ()
    group_by: tuple[str, ...] = ()  # "customer", "type" or "property.<name>", in the caller's order
    properties: tuple[tuple[str, tuple[str, ...]], ...] = ()  # name, the values it may have

    @property
    def property_names(self) -> frozenset[str]:
        """Every property the query filters or groups on."""
        grouped = {g.removeprefix(PROPERTY) for g in self.group_by if g.startswith(PROPERTY)}
        return frozenset(grouped | {name for name, _ in self.properties})

    @property
    def source(self) -> str:
        """`rollup` unless properties are involved: the rollups do not keep them."""
        return CHARGES if self.property_names else ROLLUP


def floor(at: datetime, window: str) -> datetime:
    """The start of the UTC window holding `at`."""
    at = at.astimezone(UTC)
    if window == "hour":
        return at.replace(minute=0, second=0, microsecond=0)
    if window == "day":
        return at.replace(hour=0, minute=0, second=0, microsecond=0)
    return at.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def following(start: datetime, window: str) -> datetime:
    """The start of the window after the one starting at `start`."""
    if window == "hour":
        return start + timedelta(hours=1)
    if window == "day":
        return start + timedelta(days=1)
    days = calendar.monthrange(start.year, start.month)[1]
    return start + timedelta(days=days)


def ceiling(at: datetime, window: str) -> datetime:
    """The first window boundary at or after `at`."""
    start = floor(at, window)
    return start if start == at else following(start, window)


def bucket_count(start: datetime, end: datetime, window: str) -> int:
    if window == "hour":
        return int((end - start) / timedelta(hours=1))
    if window == "day":
        return (end - start).days
    return (end.year - start.year) * 12 + end.month - start.month


def _time(name: str, raw: str) -> datetime:
    try:
        value = datetime.fromisoformat(raw)
    except ValueError as exc:
        raise ValidationError(
            f"{name} is not an RFC 3339 time: {raw!r}", code="invalid_time", field=name
        ) from exc
    if value.tzinfo is None:
        raise ValidationError(f"{name} needs a time zone offset (e.g. Z)", code="invalid_time", field=name)
    return value


def _listed(values: Iterable[str]) -> list[str]:
    """Values given as repeats or comma lists, in order, without blanks or repeats."""
    seen: dict[str, None] = {}
    for value in values:
        for item in value.split(","):
            if item.strip():
                seen[item.strip()] = None
    return list(seen)


def _group_by(raw: list[str]) -> tuple[str, ...]:
    groups = _listed(raw)
    for group in groups:
        if group not in ("customer", "type") and not (
            group.startswith(PROPERTY) and len(group) > len(PROPERTY)
        ):
            raise ValidationError(
                f"group_by takes customer, type and property.<name>, not {group!r}",
                code="invalid_group_by",
                field="group_by",
            )
    if len(groups) > MAX_GROUP_BY:
        raise ValidationError(
            f"group_by takes at most {MAX_GROUP_BY} names", code="invalid_group_by", field="group_by"
        )
    return tuple(groups)


def _range(raw_from: str | None, raw_to: str | None, window: str, now: datetime) -> tuple[datetime, datetime]:
    to = _time("to", raw_to) if raw_to else now
    try:
        since = _time("from", raw_from) if raw_from else to - DEFAULT_SPAN
        if since >= to:
            raise ValidationError("from must be before to", code="invalid_time", field="from")
        start, end = floor(since, window), ceiling(to, window)
    except OverflowError as exc:
        raise ValidationError("from and to must lie within years 1 to 9999", code="invalid_time") from exc
    if bucket_count(start, end, window) > MAX_BUCKETS:
        raise ValidationError(
            f"from..to spans more than {MAX_BUCKETS} {window} windows; narrow the range or widen the window",
            code="too_many_buckets",
            field="window",
        )
    return start, end


def parse(params: Iterable[tuple[str, str]], now: datetime) -> UsageQuery:
    """The query in `params` (repeats kept, in order); `to` defaults to `now`, `from` to 30 days before `to`."""
    given: dict[str, list[str]] = {}
    for name, value in params:
        given.setdefault(name, []).append(value)

    def last(name: str) -> str | None:
        return given[name][-1] if given.get(name) else None

    window = last("window") or DEFAULT_WINDOW
    if window not in WINDOWS:
        raise ValidationError("window must be hour, day or month", code="invalid_window", field="window")
    start, end = _range(last("from"), last("to"), window, now)
    properties = tuple(
        (name.removeprefix(PROPERTY), tuple(dict.fromkeys(values)))
        for name, values in given.items()
        if name.startswith(PROPERTY)
    )
    if any(not name for name, _ in properties):
        raise ValidationError("a property filter is written property.<name>=<value>", code="invalid_property")
    return UsageQuery(
        window=window,
        start=start,
        end=end,
        customer=last("customer") or None,
        types=tuple(_listed(given.get("type", []))),
        group_by=_group_by(given.get("group_by", [])),
        properties=properties,
    )


def check_properties(query: UsageQuery, filterable: Iterable[str]) -> None:
    """Refuse properties no burn-table rule matches on: only those are meant to be queried by."""
    allowed = sorted(set(filterable))
    refused = sorted(query.property_names - set(allowed))
    if refused:
        raise ValidationError(
            f"no burn-table rule matches on {', '.join(refused)}; the properties one can filter and group "
            f"by are those rules match on: {', '.join(allowed) or 'none yet'}",
            code="property_not_filterable",
            field=PROPERTY + refused[0],
        )
