"""The analytics section of `revos bench`: usage queries on the rollups beside the same answers computed from
the charges, and exports streamed at steady memory, on a million charges.

The charges are seeded straight into the bench's database with one `INSERT ... SELECT` over
`generate_series`, bypassing the pipeline: pushing a million events through the gateway would take minutes
and measure the pipeline, which the end-to-end section already does. The rollups are then rebuilt from
scratch with migration 031's own aggregation (`projections.analytics.rollup_backfill`), over every tenant
of the database, as the billing writer would have kept them.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import asyncpg
import orjson

from infra.bench.options import BenchOptions
from infra.bench.stack import BenchStack
from infra.errors import InfraError
from projections.analytics import ensure_login, rollup_backfill

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
    analyst = await _analyst(stack, tenant["tenant_id"])
    try:
        report["queries"] = await _queries(stack.db, analyst, tenant["tenant_id"], end, options, progress)
    finally:
        await analyst.close()
    report["mismatches"] = [q["name"] for q in report["queries"] if not q["equal"]]
    for name in report["mismatches"]:
        progress(f"  ERROR: {name}: the rollups' answer differs from the charges'")
    report["export"] = await _exports(stack, tenant["tenant_id"], total, progress)
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
    return await asyncpg.connect(urlunsplit(parts._replace(netloc=netloc)))


async def _queries(
    pool: asyncpg.Pool,
    analyst: asyncpg.Connection,
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
    plans: list[tuple[str, str, str, str, tuple[Any, ...], int]] = [
        (
            "daily_largest_customer",
            f"30 days, daily by type: largest customer ({largest['customer']})",
            DAILY_ROLLUP,
            DAILY_CHARGES,
            (tenant, largest["customer"], *month),
            largest["n"],
        ),
        (
            "daily_median_customer",
            f"30 days, daily by type: median customer ({median['customer']})",
            DAILY_ROLLUP,
            DAILY_CHARGES,
            (tenant, median["customer"], *month),
            median["n"],
        ),
        (
            "types_tenant",
            "90 days, total by type: the whole tenant",
            TYPES_ROLLUP,
            TYPES_CHARGES,
            (tenant, *quarter),
            options.analytics_charges,
        ),
    ]
    figures = []
    for name, label, rollup, direct, args, charges in plans:
        progress(f"  {label}: {options.analytics_runs} runs of each")
        async with pool.acquire() as conn:
            # Taking turns, so that a drift of the machine weighs on each alike.
            timed = await _alternate(
                {
                    "rollup": (conn, rollup),
                    "rollup_analyst": (analyst, rollup),
                    # The table behind the view, as the gateway reads it: no row-level filter.
                    "rollup_table": (conn, rollup.replace("analytics.usage_daily", "usage_daily")),
                    "charges": (conn, direct),
                },
                args,
                options.analytics_runs,
            )
        answers = {key: answer for key, (answer, _) in timed.items()}
        expected = _normal(answers["charges"])
        equal = all(_normal(answer) == expected for answer in answers.values())
        latencies = {key: _percentiles(times) for key, (_, times) in timed.items()}
        figures.append(
            {
                "name": name,
                "label": label,
                "rows": len(answers["charges"]),
                "charges_read": charges,
                **latencies,
                "ratio_p50": _ratio(latencies["charges"]["p50_ms"], latencies["rollup"]["p50_ms"]),
                "ratio_p99": _ratio(latencies["charges"]["p99_ms"], latencies["rollup"]["p99_ms"]),
                "equal": equal,
            }
        )
    return figures


async def _alternate(
    variants: dict[str, tuple[asyncpg.Connection, str]], args: Sequence[Any], runs: int
) -> dict[str, tuple[list[asyncpg.Record], list[float]]]:
    answers: dict[str, list[asyncpg.Record]] = {}
    times: dict[str, list[float]] = {key: [] for key in variants}
    for i in range(WARMUP_RUNS + runs):
        for key, (conn, sql) in variants.items():
            started = time.perf_counter()
            answer = await conn.fetch(sql, *args)
            took = (time.perf_counter() - started) * 1000
            if i >= WARMUP_RUNS:
                times[key].append(took)
            answers[key] = answer
    return {key: (answers[key], times[key]) for key in variants}


def _normal(rows: Sequence[asyncpg.Record]) -> list[tuple[Any, ...]]:
    """Rows as comparable tuples: numbers by value (1.50 is 1.5; a bigint count equals a numeric sum)."""
    return [
        tuple(
            Decimal(v).normalize() if isinstance(v, (int, Decimal)) and not isinstance(v, bool) else v
            for v in row.values()
        )
        for row in rows
    ]


def _percentiles(times: list[float]) -> dict[str, float]:
    ordered = sorted(times)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return {"p50_ms": round(statistics.median(ordered), 2), "p99_ms": round(p99, 2)}


def _ratio(slow: float, fast: float) -> float | None:
    return round(slow / fast, 1) if fast > 0 else None


async def _exports(stack: BenchStack, tenant: str, total: int, progress: Progress) -> dict[str, Any]:
    """Each export in a child process: streamed through a server-side cursor, and the fetch-everything
    baseline on a fifth of the rows."""
    assert stack.settings is not None
    slice_ = max(1, total // 5)
    runs = []
    for fmt, mode, rows in (("csv", "stream", total), ("jsonl", "stream", total), ("csv", "fetch", slice_)):
        progress(f"  export: {rows:,} charges as {fmt}, {mode}")
        runs.append(await _export(stack.settings.dsn, tenant, fmt, mode, rows))
    return {
        "method": "server-side cursor in a child process (asyncpg, 1,000-row pages, to /dev/null)",
        "runs": runs,
    }


async def _export(dsn: str, tenant: str, fmt: str, mode: str, rows: int) -> dict[str, Any]:
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "infra.bench.analytics_export",
        dsn,
        tenant,
        fmt,
        mode,
        str(rows),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await child.communicate()
    if child.returncode != 0:
        raise InfraError(f"the {fmt} {mode} export failed ({child.returncode}): {err.decode()[-2000:]}")
    figures: dict[str, Any] = orjson.loads(out)
    if figures["rows"] != rows:
        raise InfraError(f"the {fmt} {mode} export wrote {figures['rows']:,} rows, not {rows:,}")
    return figures
