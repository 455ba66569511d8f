"""Usage totals per window (GET /v1/usage): from the hourly and daily rollups, or from the charges when
properties are involved. Every query is scoped to a tenant and leaves voided charges out."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import asyncpg

from pipeline.billing.usage_query import PROPERTY, ROLLUP, UsageQuery

# The property names some rule of the tenant's burn tables matches on: the only ones queries may use.
FILTERABLE = """
SELECT DISTINCT k.property FROM burn_table_versions v, jsonb_array_elements(v.rules) AS r(rule),
     jsonb_object_keys(COALESCE(r.rule -> 'match', '{}')) AS k(property)
WHERE v.tenant_id = $1 ORDER BY k.property
"""

_TOTALS = "sum(events)::bigint, sum(quantity), sum(credits), sum(cost)"
_CHARGE_TOTALS = "count(*), sum(quantity), sum(credits), sum(COALESCE(cost, 0))"


async def filterable(pool: asyncpg.Pool, tenant_id: str) -> list[str]:
    return [r["property"] for r in await pool.fetch(FILTERABLE, tenant_id)]


class _Sql:
    """A query being built: its parameters are numbered as they are added."""

    def __init__(self, *args: Any) -> None:
        self.args = list(args)

    def param(self, value: Any) -> str:
        self.args.append(value)
        return f"${len(self.args)}"


def _bucket(query: UsageQuery, sql: _Sql) -> tuple[str, str, str]:
    """The bucket expression, the table and its range condition."""
    if query.source != ROLLUP:
        window = sql.param(query.window)
        expr = f"date_trunc({window}, event_time AT TIME ZONE 'UTC')"
        where = f"event_time >= {sql.param(query.start)} AND event_time < {sql.param(query.end)}"
        return expr, "charges", where + " AND status <> 'voided'"
    if query.window == "hour":
        return "hour", "usage_hourly", f"hour >= {sql.param(query.start)} AND hour < {sql.param(query.end)}"
    expr = "day" if query.window == "day" else "date_trunc('month', day)::date"
    lo, hi = sql.param(query.start.date()), sql.param(query.end.date())
    return expr, "usage_daily", f"day >= {lo} AND day < {hi}"


def statement(tenant_id: str, query: UsageQuery, limit: int) -> tuple[str, list[Any]]:
    """The SQL and its arguments: one row per bucket and group, `limit` rows at most."""
    sql = _Sql(tenant_id)
    bucket, table, where = _bucket(query, sql)
    groups = [
        f"properties ->> {sql.param(g.removeprefix(PROPERTY))}" if g.startswith(PROPERTY) else g
        for g in query.group_by
    ]
    conditions = ["tenant_id = $1", where]
    if query.customer is not None:
        conditions.append(f"customer = {sql.param(query.customer)}")
    if query.types:
        conditions.append(f"type = ANY({sql.param(list(query.types))}::text[])")
    for name, values in query.properties:
        conditions.append(f"properties ->> {sql.param(name)} = ANY({sql.param(list(values))}::text[])")
    totals = _TOTALS if query.source == ROLLUP else _CHARGE_TOTALS
    having = "HAVING sum(events) > 0" if query.source == ROLLUP else ""  # a bucket all voided stays, at 0
    keys = ", ".join(str(i) for i in range(1, len(groups) + 2))
    text = (
        f"SELECT {', '.join([bucket, *groups])}, {totals} FROM {table} WHERE {' AND '.join(conditions)} "
        f"GROUP BY {keys} {having} ORDER BY {keys} LIMIT {sql.param(limit)}"
    )
    return text, sql.args


def _start(value: datetime | date) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)  # date_trunc of a UTC timestamp
    return datetime(value.year, value.month, value.day, tzinfo=UTC)


async def totals(
    pool: asyncpg.Pool, tenant_id: str, query: UsageQuery, limit: int
) -> list[tuple[datetime, tuple[str | None, ...], int, Any, Any, Any]]:
    """(bucket start, group values, events, quantity, credits, cost) per bucket and group, in order."""
    text, args = statement(tenant_id, query, limit)
    rows = await pool.fetch(text, *args)
    width = len(query.group_by)
    return [(_start(r[0]), tuple(r[1 : width + 1]), *r[width + 1 :]) for r in rows]
