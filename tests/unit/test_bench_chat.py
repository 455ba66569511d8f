"""The chat figures of `revos bench` and their report section, from made-up observations."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from test_bench_checks import checks_report

from infra.bench import chat_figures as figures
from infra.bench.chat_figures import TurnSample
from infra.bench.options import BenchOptions
from infra.bench.report import render


def samples() -> list[TurnSample]:
    return [
        TurnSample(10.0, 10.010, 10.100, "complete"),
        TurnSample(10.5, 10.530, 10.700, "complete"),
        TurnSample(11.0, 11.005, None, "interrupted"),  # cut off: its first token does not count
        TurnSample(11.0, None, None, "timeout"),
        TurnSample(11.0, None, None, "timeout"),
    ]


def test_turns_time_the_complete_ones_and_count_every_other_outcome() -> None:
    assert figures.turns(samples(), planned=8) == {
        "planned": 8,
        "sent": 5,
        "complete": 2,
        "errors": 3,
        "errors_by_outcome": {"interrupted": 1, "timeout": 2},
        "seconds": 0.7,  # first send -> last final reply
        "turns_per_s": 2.9,
        "ttft_p50_ms": 20.0,
        "ttft_p99_ms": 29.8,
        "turn_p50_ms": 150.0,
        "turn_p99_ms": 199.0,
    }


def test_turns_without_a_complete_one_have_no_rate_and_no_latency() -> None:
    result = figures.turns([TurnSample(1.0, None, None, "rate_limited")], planned=4)
    assert (result["complete"], result["errors_by_outcome"]) == (0, {"rate_limited": 1})
    assert (result["turns_per_s"], result["ttft_p50_ms"], result["turn_p99_ms"]) == (None, None, None)


def test_the_gateway_adds_the_difference_in_time_to_first_token() -> None:
    gateway = {"ttft_p50_ms": 30.0, "ttft_p99_ms": 90.0}
    direct = {"ttft_p50_ms": 2.5, "ttft_p99_ms": 4.5}
    assert figures.added(gateway, direct) == {
        "ttft_added_p50_ms": 27.5,
        "ttft_ratio_p50": 12.0,
        "ttft_added_p99_ms": 85.5,
        "ttft_ratio_p99": 20.0,
    }
    assert figures.added(gateway, {"ttft_p50_ms": None, "ttft_p99_ms": 0.0}) == {
        "ttft_added_p50_ms": None,
        "ttft_ratio_p50": None,
        "ttft_added_p99_ms": 90.0,
        "ttft_ratio_p99": None,
    }


def test_memory_per_connection_is_the_growth_with_the_sockets_open_over_their_number() -> None:
    mib = 1024 * 1024
    assert figures.memory(idle=50 * mib, open_=50 * mib + 500 * 40 * 1024, after=75 * mib, sockets=500) == {
        "sockets": 500,
        "rss_idle_mib": 50.0,
        "rss_open_mib": 69.5,
        "rss_after_turns_mib": 75.0,
        "per_connection_kib": 40.0,
    }


def billing() -> dict[str, Any]:
    return figures.billing(
        replies=2020,
        charged=4040,
        tokens=Decimal(246180),
        credits=Decimal("246.180"),
        settled_s=0.0382,
        lag_p50_ms=71.84,
        lag_p99_ms=178.91,
    )


def test_billing_expects_two_charges_per_reply() -> None:
    assert billing() == {
        "replies": 2020,
        "expected_charges": 4040,
        "charges": 4040,
        "tokens": "246180",
        "credits": "246.18",
        "settled_after_last_reply_ms": 38.2,
        "reply_to_charge_p50_ms": 71.8,
        "reply_to_charge_p99_ms": 178.9,
    }


def chat_report() -> dict[str, Any]:
    gateway = figures.turns(samples(), planned=8)
    direct = {**gateway, "ttft_p50_ms": 2.5, "ttft_p99_ms": 4.0, "turn_p50_ms": 80.0, "turn_p99_ms": 90.5}
    alone = figures.turns([TurnSample(0.0, 0.007, 0.071, "complete")], planned=1)
    return {
        "options": {"workers": 1, "customers": 100, "partitions": 8},
        "machine": {"cpus": 2, "python": "3.11.7"},
        "chat": {
            "conversations": 500,
            "messages": 4,
            "delay_ms": 2,
            "gateway_env": {"REVOS_OFFLINE_DELAY_MS": "2", "REVOS_CHAT_IP_PER_MINUTE": "1000000"},
            "open_seconds": 0.41,
            "gateway": gateway,
            "direct": direct,
            "alone": alone,
            **figures.added(gateway, direct),
            "memory": figures.memory(
                idle=50 << 20, open_=(50 << 20) + 500 * 40 * 1024, after=75 << 20, sockets=500
            ),
            "cpu_percent_of_core": {"gateway": 63.4, "worker-0": 44.0, "bench": 24.0},
            "billing": {"burn_table": "bench-chat", "credits_per_token": "0.001", **billing()},
        },
    }


def test_the_report_shows_the_chat_figures() -> None:
    lines = render(chat_report()).splitlines()
    assert (
        lines[1]
        == "Revos benchmark, chat only: 1 worker(s), 100 customers, 8 partitions, 2 CPUs, Python 3.11.7"
    )
    assert lines[3] == "Chat, 500 sockets open at once x 4 messages each"
    assert lines[4] == (
        "  (offline model, 2 ms per word; rate limits raised so they never refuse: REVOS_CHAT_IP_PER_MINUTE=1000000)"
    )
    assert lines[5:15] == [
        "                                                p50 ms    p99 ms",
        "  time to first token, send -> first delta        20.0      29.8",
        "    the provider alone, in the bench               2.5       4.0",
        "    added by the gateway                          17.5      25.8",
        "    ratio gateway / provider alone                8.0x      7.5x",
        "    one conversation alone (1 turns)               7.0       7.0",
        "  turn, send -> final message                    150.0     199.0",
        "    the provider alone, in the bench              80.0      90.5",
        "    one conversation alone                        71.0      71.0",
        "  2 of 8 turns complete, 3 turns/s over 0.7s; errors: 3 (interrupted 1, timeout 2)",
    ]
    assert "  (500 sockets opened and said hello in 0.4s)" in lines
    assert "  CPU during the turns, % of one core: gateway 63, worker-0 44, bench 24" in lines
    assert "  no chat socket open                             50.0" in lines
    assert "  500 idle sockets open, after hello              69.5  = 40.0 KiB per socket" in lines
    assert "  the same sockets, after the turns               75.0" in lines
    assert lines[lines.index("  the same sockets, after the turns               75.0") + 1].startswith(
        "  (RSS grows only past memory the gateway freed before"
    )
    assert (
        "Chat charges: 4,040 llm.tokens charges for 2,020 replies (expected 4,040), 246,180 tokens = "
        "246.18 credits at 0.001 per token (burn table bench-chat)"
    ) in lines
    assert (
        "  last charge applied 38.2 ms after the last reply was written; reply -> charge p50 71.8 / p99 178.9 ms"
        in lines
    )


def test_the_title_names_every_section_an_only_option_picked() -> None:
    report = {**checks_report(), "chat": chat_report()["chat"]}
    lines = render(report).splitlines()
    assert lines[1].startswith("Revos benchmark, credits checks and chat only: ")
    assert "Chat, 500 sockets open at once x 4 messages each" in lines
    assert any(line.startswith("Credits checks, 32 clients") for line in lines)


@pytest.mark.parametrize(
    ("options", "pipeline", "checks", "chat"),
    [
        (BenchOptions(), True, True, True),
        (BenchOptions(only_chat=True), False, False, True),
        (BenchOptions(only_checks=True), False, True, False),
        (BenchOptions(only_checks=True, only_chat=True), False, True, True),
        (BenchOptions(only_chat=True, skip_checks=True), False, False, True),
        (BenchOptions(only_checks=True, skip_chat=True), False, True, False),
        (BenchOptions(skip_chat=True, skip_checks=True), True, False, False),
    ],
)
def test_only_options_pick_sections_and_compose(
    options: BenchOptions, pipeline: bool, checks: bool, chat: bool
) -> None:
    assert options.problem() is None
    assert (options.runs_pipeline, options.runs_checks, options.runs_chat) == (pipeline, checks, chat)


def test_the_chat_options_are_checked() -> None:
    assert (
        BenchOptions(chat_conversations=0).problem()
        == "--chat-conversations and --chat-messages must be positive"
    )
    assert (
        BenchOptions(chat_messages=0).problem() == "--chat-conversations and --chat-messages must be positive"
    )
    assert (
        BenchOptions(skip_chat=True, only_chat=True).problem()
        == "--skip-chat and --only-chat exclude each other"
    )
