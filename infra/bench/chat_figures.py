"""The chat figures, computed purely from what the bench observed, so they are tested alone."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from infra.bench.check_figures import percentiles
from pipeline.money import format_decimal

COMPLETE = "complete"
KIB = 1024
MIB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class TurnSample:
    """One message and its reply (or one direct call of the provider), in perf_counter seconds.

    `outcome` is the reply's status (`complete` is the only success), or the code of an error frame,
    `timeout`, or `closed`; `first_token` and `finished` are None when they never came."""

    sent: float
    first_token: float | None
    finished: float | None
    outcome: str

    @property
    def ok(self) -> bool:
        return self.outcome == COMPLETE and self.finished is not None


def _ms(values: Sequence[float]) -> tuple[float | None, float | None]:
    if not values:
        return None, None
    p50, p99 = percentiles(list(values))
    return round(p50 * 1000, 2), round(p99 * 1000, 2)


def turns(samples: Sequence[TurnSample], planned: int) -> dict[str, Any]:
    """Rate and latency of a run of turns: turns/s from the first send to the last reply, time to first
    token (send -> first delta) and turn time (send -> final message) of the complete ones, and every
    other outcome counted by its status or error code. `planned` turns were meant to be sent; one that
    failed ends its conversation, so the rest of it is never sent."""
    done = [s for s in samples if s.ok]
    ttft_p50, ttft_p99 = _ms([s.first_token - s.sent for s in done if s.first_token is not None])
    turn_p50, turn_p99 = _ms([s.finished - s.sent for s in done if s.finished is not None])
    ends = [s.finished for s in done if s.finished is not None]
    wall = max(ends) - min(s.sent for s in samples) if ends else 0.0
    return {
        "planned": planned,
        "sent": len(samples),
        "complete": len(done),
        "errors": len(samples) - len(done),
        "errors_by_outcome": dict(sorted(Counter(s.outcome for s in samples if not s.ok).items())),
        "seconds": round(wall, 3),
        "turns_per_s": round(len(done) / wall, 1) if wall > 0 else None,
        "ttft_p50_ms": ttft_p50,
        "ttft_p99_ms": ttft_p99,
        "turn_p50_ms": turn_p50,
        "turn_p99_ms": turn_p99,
    }


def added(gateway: dict[str, Any], direct: dict[str, Any]) -> dict[str, Any]:
    """What the gateway adds to the provider's time to first token: the difference and the ratio."""
    out: dict[str, Any] = {}
    for p in ("p50", "p99"):
        ours, theirs = gateway[f"ttft_{p}_ms"], direct[f"ttft_{p}_ms"]
        known = ours is not None and theirs is not None
        out[f"ttft_added_{p}_ms"] = round(ours - theirs, 2) if known else None
        out[f"ttft_ratio_{p}"] = round(ours / theirs, 1) if known and theirs > 0 else None
    return out


def memory(*, idle: int, open_: int, after: int, sockets: int) -> dict[str, Any]:
    """Gateway RSS (bytes in) with no socket, with `sockets` idle ones open, and after the turns; the
    growth per open socket in KiB."""
    return {
        "sockets": sockets,
        "rss_idle_mib": round(idle / MIB, 1),
        "rss_open_mib": round(open_ / MIB, 1),
        "rss_after_turns_mib": round(after / MIB, 1),
        "per_connection_kib": round((open_ - idle) / sockets / KIB, 1),
    }


def billing(
    *,
    replies: int,
    charged: int,
    tokens: Decimal,
    credits: Decimal,
    settled_s: float,
    lag_p50_ms: float,
    lag_p99_ms: float,
) -> dict[str, Any]:
    """The replies' token charges: each complete reply owes two (`input` and `output`); how long after
    the last reply the last was charged, and the reply -> charge lag."""
    return {
        "replies": replies,
        "expected_charges": 2 * replies,
        "charges": charged,
        "tokens": format_decimal(tokens),
        "credits": format_decimal(credits),
        "settled_after_last_reply_ms": round(settled_s * 1000, 1),
        "reply_to_charge_p50_ms": round(lag_p50_ms, 1),
        "reply_to_charge_p99_ms": round(lag_p99_ms, 1),
    }
