"""The analytics section of `revos bench`: usage queries on the rollups beside the same answers computed from
the charges, and exports streamed at steady memory, on a million charges.

The charges are seeded straight into the bench's database with one `INSERT ... SELECT` over
`generate_series`, bypassing the pipeline: pushing a million events through the gateway would take minutes
and measure the pipeline, which the end-to-end section already does. The rollups are then rebuilt from
scratch with migration 031's own aggregation (`projections.analytics.rollup_backfill`), over every tenant
of the database, as the billing writer would have kept them.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit, urlunsplit

import asyncpg
import httpx

from infra.bench import analytics_export
from infra.bench.options import BenchOptions
from infra.bench.stack import BenchStack
from infra.errors import InfraError
from projections.analytics import ensure_login, rollup_backfill
from projections.db import create_pool

if TYPE_CHECKING:
    from asyncpg.pool import PoolConnectionProxy

DAYS = 90
WARMUP_RUNS = 3
OTHER_TENANT_SHARE = 10  # the second tenant gets 1/10 as many charges, over the same customer names

# One tenant's charges over `$3` customers and the 90 days before `$4`: customers drawn with a skew (the
# first has ~3% of the events, the median ~0.07%, none fewer than ~0.05%), three event types, one without
# a cost, 1% voided and 1% amended. Deterministic for a given setseed().
SEED = """
INSERT INTO charges (tenant_id, event_id, customer, type, quantity, credits, cost, burn_table,
                     burn_table_version, event_time, received_at, allocations, topic, partition, "offset",
                     properties, status)
SELECT $1, 'seed-' || i, 'cust_' || c, type, quantity,
       CASE WHEN status = 'voided' THEN 0 ELSE credits END,
       CASE WHEN status = 'voided' AND cost IS NOT NULL THEN 0 ELSE cost END,
       'default', 1, at, at, '[]', 'bench.analytics', 0, i, properties, status
FROM (
    SELECT i, c, type, quantity, at, status,
           CASE type WHEN 'llm.tokens' THEN quantity * 0.001 WHEN 'api.calls' THEN 2
                     WHEN 'report.completed' THEN CASE WHEN pro THEN 25 ELSE 10 END END AS credits,
           CASE type WHEN 'llm.tokens' THEN quantity * 0.0004 WHEN 'api.calls' THEN NULL
                     WHEN 'report.completed' THEN CASE WHEN pro THEN 3 ELSE 1.5 END END AS cost,
           CASE type WHEN 'llm.tokens' THEN '{"model": "gpt-4o"}'::jsonb WHEN 'api.calls' THEN '{}'::jsonb
                     ELSE jsonb_build_object('tier', CASE WHEN pro THEN 'pro' ELSE 'free' END) END AS properties
    FROM (
        SELECT i, floor($3 * rc * rc)::int AS c,
               CASE WHEN rt < 0.6 THEN 'llm.tokens' WHEN rt < 0.9 THEN 'api.calls' ELSE 'report.completed' END
                   AS type,
               CASE WHEN rt < 0.6 THEN 1 + floor(rq * 4000) ELSE 1 END::numeric AS quantity,
               rq < 0.3 AS pro,
               $4::timestamptz - make_interval(days => $5) + make_interval(secs => ra * $5 * 86400) AS at,
               CASE WHEN rs < 0.01 THEN 'voided' WHEN rs < 0.02 THEN 'amended' ELSE 'charged' END AS status
        FROM (SELECT i, random() AS rc, random() AS rt, random() AS rq, random() AS ra, random() AS rs
              FROM generate_series(1, $2) AS i) AS drawn
    ) AS shaped
) AS priced
"""

# Each query: its answer from the rollups (through the analytics view) and the same from the charges.
DAILY_ROLLUP = """
SELECT day, type, events, quantity, credits, cost FROM analytics.usage_daily
WHERE tenant_id = $1 AND customer = $2 AND day >= $3 AND day < $4 AND events <> 0
ORDER BY day, type
"""
DAILY_CHARGES = """
SELECT (event_time AT TIME ZONE 'UTC')::date AS day, type, count(*) AS events, sum(quantity) AS quantity,
       sum(credits) AS credits, COALESCE(sum(cost), 0) AS cost
FROM charges
WHERE tenant_id = $1 AND customer = $2 AND event_time >= $3::date::timestamp AT TIME ZONE 'UTC'
  AND event_time < $4::date::timestamp AT TIME ZONE 'UTC' AND status <> 'voided'
GROUP BY 1, 2 ORDER BY 1, 2
"""
TYPES_ROLLUP = """
SELECT type, sum(events) AS events, sum(quantity) AS quantity, sum(credits) AS credits, sum(cost) AS cost
FROM analytics.usage_daily
WHERE tenant_id = $1 AND day >= $2 AND day < $3
GROUP BY type HAVING sum(events) <> 0 ORDER BY type
"""
TYPES_CHARGES = """
SELECT type, count(*) AS events, sum(quantity) AS quantity, sum(credits) AS credits,
       COALESCE(sum(cost), 0) AS cost
FROM charges
WHERE tenant_id = $1 AND event_time >= $2::date::timestamp AT TIME ZONE 'UTC'
  AND event_time < $3::date::timestamp AT TIME ZONE 'UTC' AND status <> 'voided'
GROUP BY type ORDER BY type
"""

Progress = Callable[[str], None]
Answer = list[tuple[Any, ...]]


async def run(stack: BenchStack, options: BenchOptions, progress: Progress) -> dict[str, Any]:
    from infra.cli.admin import create_tenant_and_wait

    assert stack.settings is not None
    total = options.analytics_charges
    tenant = await create_tenant_and_wait("bench-analytics", stack.settings, 60.0)
    other = await create_tenant_and_wait("bench-analytics-other", stack.settings, 60.0)
    end = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    report: dict[str, Any] = {
        "charges": total,
        "customers": options.customers,
        "days": DAYS,
        "other_tenant_charges": total // OTHER_TENANT_SHARE,
        "runs": options.analytics_runs,
    }
    progress(
        f"analytics: seeding {total:,} charges over {options.customers:,} customers and {DAYS} days "
        f"(+{total // OTHER_TENANT_SHARE:,} for a second tenant) straight into PostgreSQL"
    )
    report["seeding"] = await _seed(stack.db, tenant["tenant_id"], other["tenant_id"], total, options, end)
    progress(
        "  seeded in {charges:.1f}s, rollups rebuilt in {rollups:.1f}s, vacuumed in {vacuum:.1f}s".format(
            **report["seeding"]["seconds"]
        )
    )
    # As the gateway connects (projections.db.create_pool: a custom plan for every call).
    app = await create_pool(stack.settings.dsn, max_size=2)
    analyst = await _analyst(stack, tenant["tenant_id"])
    try:
        async with stack.client(tenant["api_key"]) as api:
            report["queries"] = await _queries(app, analyst, api, tenant["tenant_id"], end, options, progress)
    finally:
        await analyst.close()
        await app.close()
    report["mismatches"] = [q["name"] for q in report["queries"] if not q["equal"]]
    for name in report["mismatches"]:
        progress(f"  ERROR: {name}: the answers differ from the charges' (see the report)")
    report["export"] = await analytics_export.measure(stack, tenant, end, DAYS, progress)
    return report


async def _seed(
    pool: asyncpg.Pool, tenant: str, other: str, total: int, options: BenchOptions, end: datetime
) -> dict[str, Any]:
    seconds: dict[str, float] = {}
    async with pool.acquire() as conn:
        started = time.perf_counter()
        async with conn.transaction():
            await conn.execute("SELECT setseed(0.16)")
            await conn.execute(SEED, tenant, total, options.customers, end, DAYS)
            await conn.execute(SEED, other, total // OTHER_TENANT_SHARE, options.customers, end, DAYS)
        seconds["charges"] = time.perf_counter() - started
        started = time.perf_counter()
        async with conn.transaction():
            # From scratch for every tenant, as migration 031 did; the lock holds off a writer's upsert
            # (whose charge this aggregation cannot see yet) until the rebuilt rows are committed.
            await conn.execute("LOCK TABLE usage_hourly, usage_daily IN EXCLUSIVE MODE")
            await conn.execute("DELETE FROM usage_hourly; DELETE FROM usage_daily")
            await conn.execute(rollup_backfill())
        seconds["rollups"] = time.perf_counter() - started
        started = time.perf_counter()
        # As autovacuum would leave them: hint bits set and the visibility map current, so that the first
        # query to read a page does not pay for writing it, and statistics for the planner.
        await conn.execute("VACUUM (ANALYZE) charges, usage_hourly, usage_daily")
        seconds["vacuum"] = time.perf_counter() - started
        rows = {
            table: await conn.fetchval(f"SELECT count(*) FROM {table} WHERE tenant_id = $1", tenant)
            for table in ("usage_daily", "usage_hourly")
        }
    return {"seconds": {k: round(v, 2) for k, v in seconds.items()}, "rollup_rows": rows}


async def _analyst(stack: BenchStack, tenant: str) -> asyncpg.Connection:
    """A connection as the tenant's analyst login, whose every view row passes row-level security."""
    assert stack.settings is not None
    async with stack.db.acquire() as conn:
        role, password = await ensure_login(conn, tenant, password=True)
    assert password is not None
    parts = urlsplit(stack.settings.dsn)
    netloc = f"{quote(role)}:{quote(password)}@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    dsn = urlunsplit(parts._replace(netloc=netloc))
    # psql, as `revos sql` runs, prepares nothing: a custom plan for every statement, as here.
    return await asyncpg.connect(dsn, server_settings={"plan_cache_mode": "force_custom_plan"})


async def _queries(
    pool: asyncpg.Pool,
    analyst: asyncpg.Connection,
    api: httpx.AsyncClient,
    tenant: str,
    end: datetime,
    options: BenchOptions,
    progress: Progress,
) -> list[dict[str, Any]]:
    last = end.date()
    month = (last - timedelta(days=30), last)
    quarter = (last - timedelta(days=DAYS), last)
    sizes = await pool.fetch(
        "SELECT customer, count(*) AS n FROM charges WHERE tenant_id = $1 AND event_time >= $2 "
        "GROUP BY customer ORDER BY n DESC, customer",
        tenant,
        datetime.combine(month[0], datetime.min.time(), UTC),
    )
    largest, median = sizes[0], sizes[len(sizes) // 2]

    def usage_params(start: date, stop: date, **more: str) -> dict[str, str]:
        return {"from": f"{start.isoformat()}T00:00:00Z", "to": f"{stop.isoformat()}T00:00:00Z", **more}

    plans = [
        (
            "daily_largest_customer",
            f"30 days, daily by type: largest customer ({largest['customer']})",
            (DAILY_ROLLUP, DAILY_CHARGES, (tenant, largest["customer"], *month)),
            usage_params(*month, customer=largest["customer"], window="day", group_by="type"),
            largest["n"],
        ),
        (
            "daily_median_customer",
            f"30 days, daily by type: median customer ({median['customer']})",
            (DAILY_ROLLUP, DAILY_CHARGES, (tenant, median["customer"], *month)),
            usage_params(*month, customer=median["customer"], window="day", group_by="type"),
            median["n"],
        ),
        (
            "types_tenant",
            "90 days, total by type: the whole tenant",
            (TYPES_ROLLUP, TYPES_CHARGES, (tenant, *quarter)),
            # The API has no window of 90 days: its months, summed per type here.
            usage_params(*quarter, window="month", group_by="type"),
            options.analytics_charges,
        ),
    ]
    figures = []
    for name, label, (rollup, direct, args), params, charges in plans:
        progress(f"  {label}: {options.analytics_runs} runs of each")
        per_type = name == "types_tenant"

        async def http(params: dict[str, str] = params, per_type: bool = per_type) -> Answer:
            response = await api.get("/v1/usage", params=params)
            if response.status_code != 200:
                raise InfraError(f"GET /v1/usage answered {response.status_code}: {response.text[:500]}")
            return _from_api(response.json(), per_type=per_type)

        async with pool.acquire() as conn:
            variants: dict[str, Callable[[], Awaitable[Answer]]] = {
                "rollup": _sql(conn, rollup, args),
                "rollup_analyst": _sql(analyst, rollup, args),
                # The table behind the view, as the gateway reads it: no row-level filter.
                "rollup_table": _sql(conn, rollup.replace("analytics.usage_daily", "usage_daily"), args),
                "charges": _sql(conn, direct, args),
                "http": http,
            }
            answers, timings = await _alternate(variants, options.analytics_runs)
        expected = answers["charges"]
        differ = sorted(key for key, answer in answers.items() if answer != expected)
        latencies = {key: _percentiles(times) for key, times in timings.items()}
        figures.append(
            {
                "name": name,
                "label": label,
                "rows": len(expected),
                "charges_read": charges,
                **latencies,
                "ratio_p50": _ratio(latencies["charges"]["p50_ms"], latencies["rollup"]["p50_ms"]),
                "ratio_p99": _ratio(latencies["charges"]["p99_ms"], latencies["rollup"]["p99_ms"]),
                "equal": not differ,
                "differ": differ,
            }
        )
    return figures


def _sql(
    conn: asyncpg.Connection | PoolConnectionProxy[Any], sql: str, args: Sequence[Any]
) -> Callable[[], Awaitable[Answer]]:
    async def query() -> Answer:
        return _normal(await conn.fetch(sql, *args))

    return query


async def _alternate(
    variants: dict[str, Callable[[], Awaitable[Answer]]], runs: int
) -> tuple[dict[str, Answer], dict[str, list[float]]]:
    """Each variant's answer and its times in ms, the variants taking turns so that a drift of the machine
    weighs on each alike; the first runs warm up and are not timed."""
    answers: dict[str, Answer] = {}
    times: dict[str, list[float]] = {key: [] for key in variants}
    for i in range(WARMUP_RUNS + runs):
        for key, variant in variants.items():
            started = time.perf_counter()
            answer = await variant()
            took = (time.perf_counter() - started) * 1000
            if i >= WARMUP_RUNS:
                times[key].append(took)
            answers[key] = answer
    return answers, times


def _value(v: Any) -> Any:
    return Decimal(v).normalize() if isinstance(v, (int, Decimal)) and not isinstance(v, bool) else v


def _normal(rows: Sequence[asyncpg.Record]) -> Answer:
    """Rows as comparable tuples: numbers by value (1.50 is 1.5; a bigint count equals a numeric sum)."""
    return [tuple(_value(v) for v in row.values()) for row in rows]


def _from_api(body: dict[str, Any], *, per_type: bool) -> Answer:
    """GET /v1/usage's answer (grouped by type) as the SQL's rows: (day, type, totals...) per window, or
    with `per_type`, (type, totals...) summed over its windows."""
    rows = [
        (
            datetime.fromisoformat(row["start"]).date(),
            row["group"]["type"],
            *(Decimal(row[k]) for k in ("events", "quantity", "credits", "cost")),
        )
        for row in body["data"]
    ]
    if not per_type:
        return [tuple(_value(v) for v in row) for row in sorted(rows, key=lambda r: (r[0], r[1]))]
    sums: dict[str, list[Decimal]] = {}
    for _, type_, *totals in rows:
        kept = sums.setdefault(type_, [Decimal(0)] * 4)
        sums[type_] = [a + b for a, b in zip(kept, totals, strict=True)]
    return [(type_, *(_value(v) for v in sums[type_])) for type_ in sorted(sums) if sums[type_][0] != 0]


def _percentiles(times: list[float]) -> dict[str, float]:
    ordered = sorted(times)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return {"p50_ms": round(statistics.median(ordered), 2), "p99_ms": round(p99, 2)}


def _ratio(slow: float, fast: float) -> float | None:
    return round(slow / fast, 1) if fast > 0 else None
