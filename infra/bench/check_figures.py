"""The credits-check figures, computed purely from what the bench observed, so they are tested alone."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from pipeline.money import CONTEXT, format_decimal


@dataclass(frozen=True, slots=True)
class Answer:
    """One check of the probe: when it came back (perf_counter seconds) and what it said."""

    at: float
    balance: Decimal
    as_of: datetime | None
    lag_ms: int | None


def percentiles(values: list[float]) -> tuple[float, float]:
    """The 50th and 99th percentiles of `values` (at least one), interpolated between samples."""
    if len(values) == 1:
        return values[0], values[0]
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return cuts[49], cuts[98]


def lag(start: Decimal, acks: list[tuple[float, datetime]], answers: list[Answer]) -> dict[str, Any]:
    """Lag from each probe's acknowledgement (`acks`: perf_counter and wall time, in order) to the first
    answer showing its credit spent, and answers that broke their own bound: an `as_of` later than the
    acknowledgement of a probe they do not reflect (it was acknowledged more than `lag_ms` before)."""
    lags: list[float] = []
    broken_probes = 0
    broken: set[int] = set()
    for k, (acked, acked_wall) in enumerate(acks, start=1):
        spent = CONTEXT.subtract(start, Decimal(k))
        first = next((a for a in answers if a.balance <= spent), None)
        if first is None:
            raise ValueError(f"no answer reflects probe {k}")
        lags.append(max(0.0, first.at - acked))
        missed = [
            i
            for i, a in enumerate(answers)
            if a.balance > spent and a.as_of is not None and a.as_of > acked_wall
        ]
        broken_probes += bool(missed)
        broken.update(missed)
    p50, p99 = percentiles(lags)
    reported = [float(a.lag_ms) for a in answers if a.lag_ms is not None]
    r50, r99 = percentiles(reported) if reported else (None, None)
    return {
        "probes": len(acks),
        "answers": len(answers),
        "lag_p50_ms": round(p50 * 1000, 1),
        "lag_p99_ms": round(p99 * 1000, 1),
        "lag_max_ms": round(max(lags) * 1000, 1),
        "reported_lag_p50_ms": r50,
        "reported_lag_p99_ms": r99,
        "reported_lag_max_ms": max(reported) if reported else None,
        "probes_beyond_bound": broken_probes,
        "answers_beyond_bound": len(broken),
    }


def overspend(
    *,
    background_events_per_s: int,
    accepted: int,
    balance: Decimal,
    first_denial_s: float,
    accepted_by_first_denial: int,
    all_denied_s: float,
    lag_p50_ms: float,
    lag_p99_ms: float,
    clients: int,
    grant: int,
    credit_limit: Decimal = Decimal(0),
    credits_per_request: Decimal = Decimal(1),
) -> dict[str, Any]:
    """Overspend (how far below -credit_limit the balance ended) beside the model
    clients x credits per request + spend rate x lag, the rate being the spend until the first denial."""
    below = max(Decimal(0), CONTEXT.subtract(CONTEXT.minus(credit_limit), balance))
    rate = (
        float(accepted_by_first_denial * credits_per_request) / first_denial_s if first_denial_s > 0 else 0.0
    )
    model = float(clients * credits_per_request) + rate * lag_p50_ms / 1000
    return {
        "background_events_per_s": background_events_per_s,
        "clients": clients,
        "grant": grant,
        "credit_limit": format_decimal(credit_limit),
        "accepted": accepted,
        "final_balance": format_decimal(balance),
        "overspend": format_decimal(below),
        "first_denial_ms": round(first_denial_s * 1000, 1),
        "all_denied_ms": round(all_denied_s * 1000, 1),
        "spend_per_s": round(rate),
        "projection_lag_p50_ms": round(lag_p50_ms, 1),
        "projection_lag_p99_ms": round(lag_p99_ms, 1),
        "model_overspend": round(model),
    }
