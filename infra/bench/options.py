"""What `revos bench` measures and how hard: its options, and their command-line flags."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class BenchOptions:
    events: int = 200_000
    workers: int = 1
    customers: int = 1_000
    concurrency: int = 6  # bulk requests in flight
    batch: int = 1000  # events per bulk request, the gateway's maximum
    paced_rate: int = 2_000  # events/s of the latency run below saturation
    paced_seconds: float = 10.0
    paced_batch: int = 100
    sdk_events: int = 20_000
    naive_events: int = 1_000
    track_calls: int = 100_000
    partitions: int = 8
    check_clients: int = 32  # concurrent callers of POST /v1/check
    check_seconds: float = 5.0  # each check throughput run, and each paced load of the check section
    skip_checks: bool = False
    only_checks: bool = False  # the credits-check section alone, for a quick look at it
    chat_conversations: int = 500  # websockets open at once, each one conversation
    chat_messages: int = 4  # messages each conversation sends, one after the other
    skip_chat: bool = False
    only_chat: bool = False  # with another `only_*` too: those sections, nothing else
    voice_calls: int = 50  # phone calls at once, each through the webhook and the relay socket
    voice_prompts: int = 3  # prompts each call says, one after the other
    skip_voice: bool = False
    only_voice: bool = False
    analytics_charges: int = 1_000_000  # charges seeded for the analytics section's queries and exports
    analytics_runs: int = 30  # timed runs of each analytics query (after a warm-up)
    skip_analytics: bool = False
    only_analytics: bool = False
    skip_outbox_off: bool = False  # the end-to-end and paced runs again with acknowledgements on the broker
    tracing_cost: bool = False  # the end-to-end run on two more stacks, tracing off and on
    more_workers: int = 2  # the end-to-end run again on a stack with this many workers; 0: not
    # Where py-spy writes stacks of the end-to-end run (when py-spy is installed); None: no profiling.
    profile: Path | None = Path(".revos/bench-profile")

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> BenchOptions:
        return cls(
            events=args.events,
            workers=args.workers,
            customers=args.customers,
            concurrency=args.concurrency,
            paced_rate=args.paced_rate,
            more_workers=args.more_workers,
            profile=None if args.no_profile else args.profile,
            check_clients=args.check_clients,
            check_seconds=args.check_seconds,
            skip_checks=args.skip_checks,
            only_checks=args.only_checks,
            chat_conversations=args.chat_conversations,
            chat_messages=args.chat_messages,
            skip_chat=args.skip_chat,
            only_chat=args.only_chat,
            voice_calls=args.voice_calls,
            voice_prompts=args.voice_prompts,
            skip_voice=args.skip_voice,
            only_voice=args.only_voice,
            analytics_charges=args.analytics_charges,
            analytics_runs=args.analytics_runs,
            skip_analytics=args.skip_analytics,
            only_analytics=args.only_analytics,
            skip_outbox_off=args.skip_outbox_off,
            tracing_cost=args.tracing_cost,
        )

    @property
    def _picked(self) -> bool:
        """An `--only-*` option picked the sections that run."""
        return self.only_checks or self.only_chat or self.only_voice or self.only_analytics

    @property
    def runs_pipeline(self) -> bool:
        """The end-to-end, paced, raw baseline and SDK figures: unless an `--only-*` picked sections."""
        return not self._picked

    @property
    def runs_checks(self) -> bool:
        return not self.skip_checks and (self.only_checks or not self._picked)

    @property
    def runs_chat(self) -> bool:
        return not self.skip_chat and (self.only_chat or not self._picked)

    @property
    def runs_voice(self) -> bool:
        return not self.skip_voice and (self.only_voice or not self._picked)

    @property
    def runs_analytics(self) -> bool:
        return not self.skip_analytics and (self.only_analytics or not self._picked)

    def problem(self) -> str | None:
        """Why these options cannot run, or None."""
        counts = (self.events, self.workers, self.customers, self.concurrency, self.paced_rate)
        if min(counts) < 1:
            return "--events, --workers, --customers, --concurrency and --paced-rate must be positive"
        if self.more_workers < 0:
            return "--more-workers must not be negative"
        if self.check_clients < 1 or self.check_seconds <= 0:
            return "--check-clients and --check-seconds must be positive"
        if self.skip_checks and self.only_checks:
            return "--skip-checks and --only-checks exclude each other"
        if self.chat_conversations < 1 or self.chat_messages < 1:
            return "--chat-conversations and --chat-messages must be positive"
        if self.skip_chat and self.only_chat:
            return "--skip-chat and --only-chat exclude each other"
        if self.voice_calls < 1 or self.voice_prompts < 1:
            return "--voice-calls and --voice-prompts must be positive"
        if self.skip_voice and self.only_voice:
            return "--skip-voice and --only-voice exclude each other"
        if self.analytics_charges < 10 * self.customers or self.analytics_runs < 1:
            return "--analytics-charges must be at least 10 per customer, and --analytics-runs positive"
        if self.skip_analytics and self.only_analytics:
            return "--skip-analytics and --only-analytics exclude each other"
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
        "--more-workers",
        type=int,
        default=defaults.more_workers,
        help="measure end to end again on a stack with this many workers, 0 to skip "
        f"(default {defaults.more_workers})",
    )
    profile = parser.add_mutually_exclusive_group()
    profile.add_argument(
        "--profile",
        type=Path,
        metavar="DIR",
        default=defaults.profile,
        help="where py-spy's stacks of the gateway and workers during the end-to-end run go "
        f"(default {defaults.profile}); the report summarises them",
    )
    profile.add_argument("--no-profile", action="store_true", help="do not sample with py-spy")
    parser.add_argument(
        "--check-clients",
        type=int,
        default=defaults.check_clients,
        help=f"concurrent clients of the check throughput run (default {defaults.check_clients})",
    )
    parser.add_argument(
        "--check-seconds",
        type=float,
        default=defaults.check_seconds,
        help=f"length of each check throughput run and check-section load (default {defaults.check_seconds:g})",
    )
    checks = parser.add_mutually_exclusive_group()
    checks.add_argument("--skip-checks", action="store_true", help="leave out the credits-check section")
    checks.add_argument(
        "--only-checks",
        action="store_true",
        help="run the credits-check section alone (no end-to-end, paced, raw baseline or SDK figures); "
        "with --only-chat or --only-voice, those sections too",
    )
    parser.add_argument(
        "--chat-conversations",
        type=int,
        default=defaults.chat_conversations,
        help=f"websocket conversations open at once in the chat section (default {defaults.chat_conversations})",
    )
    parser.add_argument(
        "--chat-messages",
        type=int,
        default=defaults.chat_messages,
        help=f"messages each chat conversation sends, one after the other (default {defaults.chat_messages})",
    )
    chat = parser.add_mutually_exclusive_group()
    chat.add_argument("--skip-chat", action="store_true", help="leave out the chat section")
    parser.add_argument(
        "--skip-outbox-off",
        action="store_true",
        help="leave out the second stack that measures the pipeline with acknowledgements on the broker alone",
    )
    parser.add_argument(
        "--tracing-cost",
        action="store_true",
        help="also run the end-to-end load on two more stacks, tracing off and on (REVOS_TRACE_FILE), "
        "to show what tracing costs",
    )
    chat.add_argument(
        "--only-chat",
        action="store_true",
        help="run the chat section alone; with --only-checks or --only-voice, those sections too",
    )
    parser.add_argument(
        "--voice-calls",
        type=int,
        default=defaults.voice_calls,
        help=f"phone calls at once in the voice section (default {defaults.voice_calls})",
    )
    parser.add_argument(
        "--voice-prompts",
        type=int,
        default=defaults.voice_prompts,
        help=f"prompts each call says, one after the other (default {defaults.voice_prompts})",
    )
    voice = parser.add_mutually_exclusive_group()
    voice.add_argument("--skip-voice", action="store_true", help="leave out the voice section")
    voice.add_argument(
        "--only-voice",
        action="store_true",
        help="run the voice section alone (it measures chat beside the calls itself); with another "
        "--only-*, those sections too",
    )
    parser.add_argument(
        "--analytics-charges",
        type=int,
        default=defaults.analytics_charges,
        help="charges seeded (over --customers customers and 90 days) for the analytics section's queries "
        f"and exports (default {defaults.analytics_charges:,})",
    )
    parser.add_argument(
        "--analytics-runs",
        type=int,
        default=defaults.analytics_runs,
        help=f"timed runs of each analytics query, after a warm-up (default {defaults.analytics_runs})",
    )
    analytics = parser.add_mutually_exclusive_group()
    analytics.add_argument("--skip-analytics", action="store_true", help="leave out the analytics section")
    analytics.add_argument(
        "--only-analytics",
        action="store_true",
        help="run the analytics section alone; with another --only-*, those sections too",
    )
    parser.add_argument("--json", action="store_true", help="print the figures as JSON instead of a table")
