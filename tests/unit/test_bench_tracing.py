"""The bench's tracing figure: `--tracing-cost` asks for it, and the report prints off beside on."""

from __future__ import annotations

from typing import Any

from infra.bench.options import BenchOptions, add_arguments
from infra.bench.report import _tracing


def run(events_per_s: int, p50: float) -> dict[str, Any]:
    return {"ingest_events_per_s": 9000, "end_to_end_events_per_s": events_per_s, "latency_p50_ms": p50}


def test_the_flag_asks_for_the_tracing_runs() -> None:
    import argparse

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    assert BenchOptions.from_args(parser.parse_args(["--tracing-cost"])).tracing_cost
    assert not BenchOptions.from_args(parser.parse_args([])).tracing_cost


def test_the_report_prints_off_beside_on_with_their_ratio() -> None:
    on = {**run(4500, 40.0), "spans_written": 61234}
    lines = _tracing({"off": run(5000, 38.0), "on": on, "on_over_off": 0.9})
    end_to_end = next(line for line in lines if "end to end, events/s" in line)
    assert end_to_end.split()[-3:] == ["5,000", "4,500", "0.90x"]
    assert "61,234 spans written" in lines[-2]


def test_no_figure_without_the_runs() -> None:
    assert _tracing(None) == []
