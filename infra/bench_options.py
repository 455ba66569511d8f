"""What `revos bench` measures and how hard: its options, and their command-line flags."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class BenchOptions:
    events: int = 200_000
    workers: int = 1
    customers: int = 100
    concurrency: int = 6  # bulk requests in flight
    batch: int = 1000  # events per bulk request, the gateway's maximum
    paced_rate: int = 2_000  # events/s of the latency run below saturation
    paced_seconds: float = 10.0
    paced_batch: int = 100
    sdk_events: int = 20_000
    naive_events: int = 1_000
    track_calls: int = 100_000
    partitions: int = 8
    profile: Path | None = None  # where py-spy writes stacks of the end-to-end run; None: no profiling

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> BenchOptions:
        return cls(
            events=args.events,
            workers=args.workers,
            customers=args.customers,
            concurrency=args.concurrency,
            paced_rate=args.paced_rate,
            profile=args.profile,
        )

    def problem(self) -> str | None:
        """Why these options cannot run, or None."""
        counts = (self.events, self.workers, self.customers, self.concurrency, self.paced_rate)
        if min(counts) < 1:
            return "--events, --workers, --customers, --concurrency and --paced-rate must be positive"
        return None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    defaults = BenchOptions()
    parser.add_argument(
        "--events",
        type=int,
        default=defaults.events,
        help=f"events pushed end to end (default {defaults.events})",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=defaults.workers,
        help=f"stream worker processes (default {defaults.workers})",
    )
    parser.add_argument(
        "--customers", type=int, default=defaults.customers, help=f"customers (default {defaults.customers})"
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        default=defaults.concurrency,
        help=f"bulk requests in flight (default {defaults.concurrency})",
    )
    parser.add_argument(
        "--paced-rate",
        type=int,
        default=defaults.paced_rate,
        help=f"events/s of the paced latency run (default {defaults.paced_rate})",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="DIR",
        help="sample the gateway and workers with py-spy during the end-to-end run; stacks go to DIR",
    )
    parser.add_argument("--json", action="store_true", help="print the figures as JSON instead of a table")
