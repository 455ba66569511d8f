"""The analytics section of `revos bench`: its options, how it compares answers, and its report, from
made-up figures."""

from __future__ import annotations

import argparse
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from infra.bench.analytics import _normal, _percentiles
from infra.bench.options import BenchOptions, add_arguments
from infra.bench.report import render


class Row(dict[str, Any]):
    """Stands in for an asyncpg Record: `values()` in column order."""


def latency(p50: float, p99: float) -> dict[str, float]:
    return {"p50_ms": p50, "p99_ms": p99}


def query(name: str, label: str, equal: bool = True) -> dict[str, Any]:
    return {
        "name": name,
        "label": label,
        "rows": 90,
        "charges_read": 10_512,
        "rollup": latency(0.8, 1.6),
        "rollup_analyst": latency(0.9, 1.7),
        "rollup_table": latency(0.7, 1.5),
        "charges": latency(12.0, 20.0),
        "ratio_p50": 15.0,
        "ratio_p99": 12.5,
        "equal": equal,
    }


def export(fmt: str, mode: str, rows: int, peak_kib: int) -> dict[str, Any]:
    return {
        "format": fmt,
        "mode": mode,
        "rows": rows,
        "seconds": rows / 30_000,
        "rows_per_s": 30_000,
        "rss_before_kib": 30 * 1024,
        "rss_samples_kib": [(rows * k // 10, 34 * 1024) for k in range(1, 11)] if mode == "stream" else [],
        "rss_peak_kib": peak_kib,
    }


def analytics_report(*, equal: bool = True) -> dict[str, Any]:
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
                query("types_tenant", "90 days, total by type: the whole tenant", equal),
            ],
            "mismatches": [] if equal else ["types_tenant"],
            "export": {
                "method": "server-side cursor in a child process",
                "runs": [
                    export("csv", "stream", 1_000_000, 35 * 1024),
                    export("jsonl", "stream", 1_000_000, 36 * 1024),
                    export("csv", "fetch", 200_000, 30 * 1024 + 200_000),  # 1 KiB per row
                ],
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
    assert any(
        line.startswith("    charges table, aggregated") and line.endswith("12.0      20.0") for line in lines
    )
    assert any(
        line.startswith("    charges / rollups") and "15.0x     12.5x  answers equal" in line
        for line in lines
    )
    assert "MISMATCH" not in text
    streamed = next(line for line in lines if line.startswith("    csv, streamed"))
    assert streamed.split() == ["csv,", "streamed", "1,000,000", "30,000", "30", "35"]
    assert "    RSS while streaming jsonl, every 10% of the rows: " + ", ".join(["34"] * 10) + " MiB" in lines
    assert "    fetch() holds ~1,024 bytes per row: ~977 MiB for 1,000,000 rows" in lines


def test_a_mismatch_is_shown_loudly() -> None:
    text = render(analytics_report(equal=False))
    assert "!! MISMATCH: the rollups' answer is not the charges'" in text
    assert text.count("answers equal") == 1


def test_answers_compare_by_value_in_order() -> None:
    day = date(2026, 11, 2)
    rollup = [Row(day=day, type="tokens", events=Decimal(3), credits=Decimal("1.50"))]
    charges = [Row(day=day, type="tokens", events=3, credits=Decimal("1.5"))]
    assert _normal(rollup) == _normal(charges)
    assert _normal(rollup) != _normal([Row(day=day, type="tokens", events=3, credits=Decimal("1.51"))])
    assert _normal([*rollup, *rollup]) != _normal(rollup)


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
