"""The analytics section of `revos bench`: its options, how it compares answers, and its report, from
made-up figures."""

from __future__ import annotations

import argparse
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from infra.bench.analytics import _from_api, _normal, _percentiles
from infra.bench.options import BenchOptions, add_arguments
from infra.bench.report import render


class Row(dict[str, Any]):
    """Stands in for an asyncpg Record: `values()` in column order."""


def latency(p50: float, p99: float) -> dict[str, float]:
    return {"p50_ms": p50, "p99_ms": p99}


def query(name: str, label: str, differ: tuple[str, ...] = ()) -> dict[str, Any]:
    return {
        "name": name,
        "label": label,
        "rows": 90,
        "charges_read": 10_512,
        "rollup": latency(0.8, 1.6),
        "rollup_analyst": latency(0.9, 1.7),
        "rollup_table": latency(0.7, 1.5),
        "http": latency(6.0, 9.0),
        "charges": latency(12.0, 20.0),
        "ratio_p50": 15.0,
        "ratio_p99": 12.5,
        "equal": not differ,
        "differ": list(differ),
    }


def child(mode: str, rows: int, peak_kib: int) -> dict[str, Any]:
    return {
        "format": "csv",
        "mode": mode,
        "rows": rows,
        "seconds": rows / 30_000,
        "rows_per_s": 30_000,
        "rss_before_kib": 30 * 1024,
        "rss_samples_kib": [(rows * k // 10, 34 * 1024) for k in range(1, 11)] if mode == "stream" else [],
        "rss_peak_kib": peak_kib,
    }


def http(fmt: str) -> dict[str, Any]:
    return {
        "format": fmt,
        "rows": 1_000_000,
        "bytes": 200 * 1048576,
        "seconds": 40.0,
        "rows_per_s": 25_000,
        "gateway_before": {"rss_kib": 80 * 1024, "hwm_kib": 90 * 1024},
        "gateway_after": {"rss_kib": 84 * 1024, "hwm_kib": 90 * 1024},
        "gateway_rss_max_kib": 85 * 1024,
        "gateway_rss_samples": 800,
    }


def analytics_report(*, differ: tuple[str, ...] = ()) -> dict[str, Any]:
    return {
        "options": {"workers": 1, "customers": 1000, "partitions": 8},
        "machine": {"cpus": 2, "python": "3.11.7"},
        "analytics": {
            "charges": 1_000_000,
            "customers": 1000,
            "days": 90,
            "other_tenant_charges": 100_000,
            "runs": 30,
            "seeding": {
                "seconds": {"charges": 51.8, "rollups": 45.6, "vacuum": 9.0},
                "rollup_rows": {"usage_daily": 223_146, "usage_hourly": 826_973},
            },
            "queries": [
                query("daily_largest_customer", "30 days, daily by type: largest customer (cust_0)"),
                query("types_tenant", "90 days, total by type: the whole tenant", differ),
            ],
            "mismatches": ["types_tenant"] if differ else [],
            "export": {
                "http": [http("csv"), http("jsonl")],
                "child": [child("stream", 200_000, 35 * 1024), child("fetch", 200_000, 30 * 1024 + 200_000)],
            },
        },
    }


def test_the_report_shows_each_query_beside_the_charges_and_the_exports_memory() -> None:
    text = render(analytics_report())
    lines = text.splitlines()
    assert lines[1].startswith("Revos benchmark, analytics only: ")
    assert (
        "Analytics, 1,000,000 charges over 1,000 customers and 90 days (+100,000 of a second tenant)" in text
    )
    assert "rebuilt from scratch in 45.6s (223,146 daily, 826,973 hourly rows for the tenant)" in text
    assert "  30 days, daily by type: largest customer (cust_0) (10,512 charges, 90 rows answered)" in lines
    assert "    charges table, aggregated                     12.0      20.0" in lines
    assert "      GET /v1/usage (from the rollups)             6.0       9.0" in lines
    assert "    charges / rollups                            15.0x     12.5x  every answer equal" in lines
    assert "MISMATCH" not in text
    exported = next(line for line in lines if line.startswith("    GET /v1/charges/export?format=csv"))
    assert exported.split()[2:] == ["1,000,000", "25,000", "5.0", "80", "85", "90"]
    assert "the most of 1,600 samples while streaming" in text
    streamed = next(line for line in lines if line.startswith("    same code, csv, a child, streamed"))
    assert streamed.split()[-5:] == ["200,000", "30,000", "30", "34", "35"]
    assert "    fetch() holds ~1,024 bytes per row: ~977 MiB for the 1,000,000 rows streamed above" in lines


def test_a_mismatch_is_shown_loudly_with_the_answers_that_differ() -> None:
    text = render(analytics_report(differ=("http", "rollup_analyst")))
    assert (
        "!! MISMATCH: same, as the tenant's analyst login, GET /v1/usage (from the rollups) differs from the "
        "charges'" in text
    )
    assert text.count("every answer equal") == 1


def test_answers_compare_by_value_in_order() -> None:
    day = date(2026, 11, 2)
    rollup = [Row(day=day, type="tokens", events=Decimal(3), credits=Decimal("1.50"))]
    charges = [Row(day=day, type="tokens", events=3, credits=Decimal("1.5"))]
    assert _normal(rollup) == _normal(charges)
    assert _normal(rollup) != _normal([Row(day=day, type="tokens", events=3, credits=Decimal("1.51"))])
    assert _normal([*rollup, *rollup]) != _normal(rollup)


def test_the_usage_api_answer_reads_as_the_sql_rows() -> None:
    def row(start: str, type_: str, events: int, credits: str) -> dict[str, Any]:
        return {"start": start, "end": "-", "group": {"type": type_}, "events": events, "quantity": "2",
                "credits": credits, "cost": "0"}  # fmt: skip

    body = {
        "data": [
            row("2026-11-01T00:00:00Z", "tokens", 2, "1.50"),
            row("2026-11-01T00:00:00Z", "calls", 1, "2"),
            row("2026-12-01T00:00:00Z", "tokens", 3, "0.5"),
            row("2026-12-01T00:00:00Z", "voided.only", 0, "0"),
        ]
    }
    day = date(2026, 11, 1)
    by_day = [Row(day=day, type="calls", events=1, quantity=2, credits=Decimal(2), cost=0)]
    assert _from_api({"data": body["data"][1:2]}, per_type=False) == _normal(by_day)
    per_type = [
        Row(type="calls", events=1, quantity=Decimal(2), credits=Decimal(2), cost=Decimal(0)),
        Row(type="tokens", events=5, quantity=Decimal(4), credits=Decimal("2.0"), cost=Decimal(0)),
    ]
    assert _from_api(body, per_type=True) == _normal(per_type)


def test_percentiles_are_the_median_and_the_99th() -> None:
    times = [float(t) for t in range(1, 101)]
    assert _percentiles(times) == {"p50_ms": 50.5, "p99_ms": 99.0}
    assert _percentiles([3.0]) == {"p50_ms": 3.0, "p99_ms": 3.0}


@pytest.mark.parametrize(
    ("options", "pipeline", "voice", "analytics"),
    [
        (BenchOptions(), True, True, True),
        (BenchOptions(only_analytics=True), False, False, True),
        (BenchOptions(only_analytics=True, only_voice=True), False, True, True),
        (BenchOptions(only_voice=True), False, True, False),
        (BenchOptions(skip_analytics=True), True, True, False),
    ],
)
def test_analytics_is_a_section_the_only_and_skip_options_pick(
    options: BenchOptions, pipeline: bool, voice: bool, analytics: bool
) -> None:
    assert options.problem() is None
    assert (options.runs_pipeline, options.runs_voice, options.runs_analytics) == (pipeline, voice, analytics)


def test_the_analytics_options_are_checked_and_reach_the_options() -> None:
    assert BenchOptions(analytics_charges=9_999).problem() is not None  # fewer than 10 per customer
    assert BenchOptions(analytics_runs=0).problem() is not None
    assert BenchOptions(skip_analytics=True, only_analytics=True).problem() is not None
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    options = BenchOptions.from_args(
        parser.parse_args(["--only-analytics", "--analytics-charges", "50000", "--analytics-runs", "5"])
    )
    assert (options.only_analytics, options.analytics_charges, options.analytics_runs) == (True, 50_000, 5)
    assert BenchOptions.from_args(parser.parse_args([])).analytics_charges == 1_000_000
    with pytest.raises(SystemExit):
        parser.parse_args(["--skip-analytics", "--only-analytics"])
