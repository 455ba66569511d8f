"""The credits-check figures of `revos bench` and their report section, from made-up observations."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from infra.bench import check_figures as figures
from infra.bench.options import BenchOptions
from infra.bench.report import render

T0 = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


def at(ms: int) -> datetime:
    return T0 + timedelta(milliseconds=ms)


def answer(seconds: float, balance: int, as_of_ms: int | None, lag_ms: int | None) -> figures.Answer:
    return figures.Answer(seconds, Decimal(balance), None if as_of_ms is None else at(as_of_ms), lag_ms)


def test_percentiles_interpolate_between_samples() -> None:
    assert figures.percentiles([0.25, 0.5]) == (0.375, 0.4975)
    assert figures.percentiles([7.0]) == (7.0, 7.0)
    assert figures.percentiles([float(n) for n in range(1, 101)]) == pytest.approx((50.5, 99.01))


def test_lag_runs_from_each_acknowledgement_to_the_first_answer_showing_the_spend() -> None:
    acks = [(1.0, at(0)), (2.0, at(1000))]
    answers = [
        answer(1.1, 100, -300, 400),
        answer(1.25, 99, 100, 150),  # probe 1 spent: 250 ms after its ack
        answer(2.1, 99, 900, 200),  # as of before probe 2's ack: within its bound
        answer(2.3, 99, 1100, 200),  # as of after probe 2's ack, yet without it: beyond the bound
        answer(2.5, 98, 1200, 300),  # probe 2 spent: 500 ms after its ack
    ]
    assert figures.lag(Decimal(100), acks, answers) == {
        "probes": 2,
        "answers": 5,
        "lag_p50_ms": 375.0,
        "lag_p99_ms": 497.5,
        "lag_max_ms": 500.0,
        "reported_lag_p50_ms": 200.0,
        "reported_lag_p99_ms": 396.0,
        "reported_lag_max_ms": 400.0,
        "probes_beyond_bound": 1,
        "answers_beyond_bound": 1,
    }


def test_a_spend_seen_before_its_acknowledgement_has_no_lag_and_no_watermark_no_bound() -> None:
    result = figures.lag(Decimal(10), [(1.0, at(0))], [answer(0.9, 9, None, None)])
    assert (result["lag_p50_ms"], result["lag_max_ms"]) == (0.0, 0.0)
    assert (result["reported_lag_p50_ms"], result["reported_lag_max_ms"]) == (None, None)
    assert result["probes_beyond_bound"] == 0


def test_a_probe_no_answer_reflects_is_an_error() -> None:
    with pytest.raises(ValueError, match="probe 2"):
        figures.lag(Decimal(10), [(1.0, at(0)), (2.0, at(1000))], [answer(1.5, 9, 500, 100)])


def overspend(balance: str, **changes: Any) -> dict[str, Any]:
    given: dict[str, Any] = {
        "background_events_per_s": 0,
        "accepted": 55,
        "balance": Decimal(balance),
        "first_denial_s": 0.2,
        "accepted_by_first_denial": 40,
        "all_denied_s": 0.3,
        "lag_p50_ms": 50.0,
        "lag_p99_ms": 80.0,
        "clients": 50,
        "grant": 20,
    }
    return figures.overspend(**{**given, **changes})


def test_overspend_is_how_far_below_the_credit_limit_the_balance_ended_beside_the_model() -> None:
    result = overspend("-35")
    assert (result["final_balance"], result["overspend"], result["credit_limit"]) == ("-35", "35", "0")
    # 50 clients x 1 credit + 40 credits / 0.2 s x 0.05 s
    assert (result["spend_per_s"], result["model_overspend"]) == (200, 60)
    assert overspend("-35", credit_limit=Decimal(10))["overspend"] == "25"
    assert overspend("5")["overspend"] == "0"


def checks_report() -> dict[str, Any]:
    def rate(per_s: int, p50: float, p99: float, failed: int = 0) -> dict[str, Any]:
        cpu = {"gateway": 99.0, "postgres": 40.0, "bench": 30.0}
        return {
            "requests_per_s": per_s,
            "p50_ms": p50,
            "p99_ms": p99,
            "failed": failed,
            "cpu_percent_of_core": cpu,
        }

    lag = figures.lag(Decimal(100), [(1.0, at(0))], [answer(1.0625, 99, 100, 250)])
    return {
        "options": {"workers": 1, "customers": 100, "partitions": 8},
        "machine": {"cpus": 2, "python": "3.11.7"},
        "checks": {
            "clients": 32,
            "seconds": 5.0,
            "throughput": {
                "healthz": rate(3600, 8.3, 26.9),
                "check": rate(1200, 26.6, 50.6),
                "check_feature": rate(900, 32.3, 79.9, failed=3),
            },
            "lag": {"events_per_s": 2000, **lag},
            "overspend": [
                overspend("-35"),
                overspend("-61", background_events_per_s=2000, accepted=81),
                {**overspend("0", accepted=20), "hold": True},
            ],
        },
    }


def test_the_report_shows_checks_beside_healthz_the_lag_and_the_overspend() -> None:
    lines = render(checks_report()).splitlines()
    assert (
        lines[1]
        == "Revos benchmark, credits checks only: 1 worker(s), 100 customers, 8 partitions, 2 CPUs, Python 3.11.7"
    )
    assert "  GET /healthz (the gateway's floor)             3,600       8.3      26.9     1.00x" in lines
    assert '  check {"credits": "1"}                         1,200      26.6      50.6     0.33x' in lines
    assert (
        "    + a metered feature                            900      32.3      79.9     0.25x  (3 failed)"
        in lines
    )
    assert (
        "  (CPU, % of one core, gateway/postgres/bench: healthz 99/40/30, check 99/40/30, metered 99/40/30)"
        in lines
    )
    assert "  ack -> a check reflects it (1 probes)           62.5      62.5      62.5" in lines
    assert "  answers missing an event acknowledged over lag_ms before them: 0 of 1 (0 of 1 probes)" in lines
    assert (
        "  as is                              55      -35         35        200.0        50.0      200     60"
        in lines
    )
    assert (
        "  2,000 ev/s elsewhere               81      -61         61        200.0        50.0      200     60"
        in lines
    )
    assert "    as is:                50 x 1 + 200/s x 0.050s = 60" in lines
    assert (
        "  holds, as is                       20        0          0        200.0        50.0      200     60"
        in lines
    )
    assert not any(line.startswith("    holds") for line in lines)  # no model line for holds


def test_the_check_options_are_checked() -> None:
    assert BenchOptions(check_clients=0).problem() == "--check-clients and --check-seconds must be positive"
    assert BenchOptions(skip_checks=True, only_checks=True).problem() is not None
    assert BenchOptions(skip_checks=True).problem() is None
