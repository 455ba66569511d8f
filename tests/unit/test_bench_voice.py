"""The voice figures of `revos bench` and their report section, from made-up observations."""

from __future__ import annotations

import argparse
from typing import Any

import pytest
from test_bench_checks import checks_report

from infra.bench import voice_figures as figures
from infra.bench.chat_figures import TurnSample
from infra.bench.options import BenchOptions, add_arguments
from infra.bench.report import render
from infra.bench.voice_figures import CallTurns


def message(seq: int, role: str, status: str = "complete", reply_to: int | None = None) -> dict[str, Any]:
    return {"seq": seq, "role": role, "status": status, "reply_to": reply_to}


def whole(turns: int) -> list[dict[str, Any]]:
    """A call's conversation with `turns` prompts, each answered."""
    out = []
    for k in range(turns):
        out += [message(2 * k + 1, "user"), message(2 * k + 2, "assistant", reply_to=2 * k + 1)]
    return out


def test_a_turn_is_stored_when_its_prompt_and_its_complete_reply_are() -> None:
    messages = [
        message(1, "user"),
        message(2, "assistant", reply_to=1),
        message(3, "user"),
        message(4, "assistant", "interrupted", reply_to=3),  # cut off: no whole reply
        message(5, "assistant"),  # a greeting or a reprompt answers nobody
        message(6, "user"),
        message(7, "assistant", "failed", reply_to=6),
        message(8, "user"),  # its reply not read yet
    ]
    assert CallTurns("CA1", 4, messages).stored == 1
    assert CallTurns("CA1", 3, whole(3)).stored == 3


def test_turns_lost_are_those_not_both_answered_on_the_socket_and_stored() -> None:
    calls = [
        CallTurns("CA1", 3, whole(3)),
        CallTurns("CA2", 3, whole(2)),  # the third turn never reached the conversation
        CallTurns("CA3", 1, whole(1)),  # the second prompt timed out, so the third was never said
        CallTurns("CA4", 3, [*whole(3), message(7, "assistant")]),  # a message more loses nothing
    ]
    assert figures.lost(calls, 3) == {
        "calls": 4,
        "turns_planned": 12,
        "turns_answered": 10,
        "turns_stored": 9,
        "messages_expected": 24,
        "messages_stored": 19,
        "turns_lost": 3,
        "calls_with_a_lost_turn": 2,
    }
    assert figures.lost([CallTurns("CA1", 3, whole(3))] * 50, 3)["turns_lost"] == 0


def test_voice_beside_chat_is_their_ratio_when_both_are_known() -> None:
    voice = {"ttft_p50_ms": 30.0, "ttft_p99_ms": 90.0, "turn_p50_ms": 100.0, "turn_p99_ms": None}
    chat = {"ttft_p50_ms": 20.0, "ttft_p99_ms": 0.0, "turn_p50_ms": 80.0, "turn_p99_ms": 120.0}
    assert figures.beside(voice, chat) == {
        "ttft_ratio_p50": 1.5,
        "ttft_ratio_p99": None,
        "turn_ratio_p50": 1.25,
        "turn_ratio_p99": None,
    }


def test_pooled_rounds_are_timed_together_but_rated_over_their_own_time() -> None:
    first = [TurnSample(10.0, 10.01, 10.1, "complete"), TurnSample(10.0, 10.03, 10.4, "complete")]
    second = [TurnSample(20.0, 20.02, 20.6, "complete"), TurnSample(20.0, None, None, "timeout")]
    pooled = figures.pooled([first, second], planned=4)
    # 3 complete over 0.4 s + 0.6 s, not over the 10.6 s from the first send to the last reply
    assert (pooled["seconds"], pooled["turns_per_s"]) == (1.0, 3.0)
    assert (pooled["complete"], pooled["errors_by_outcome"], pooled["ttft_p50_ms"]) == (
        3,
        {"timeout": 1},
        20.0,
    )
    assert figures.pooled([[TurnSample(1.0, None, None, "closed")]], planned=3)["turns_per_s"] is None


def test_each_calls_first_prompt_is_timed_apart() -> None:
    calls = [
        [TurnSample(0.0, 0.050, 0.2, "complete"), TurnSample(1.0, 1.010, 1.1, "complete")],
        [TurnSample(0.0, 0.030, 0.2, "complete")],
        [],
    ]
    firsts = figures.first_prompts(calls)
    assert (firsts["planned"], firsts["complete"], firsts["ttft_p50_ms"], firsts["ttft_p99_ms"]) == (
        3,
        2,
        40.0,
        49.8,
    )


def test_connects_are_the_webhook_and_handshake_times_in_ms() -> None:
    assert figures.connects([0.010, 0.020, 0.030], [0.002]) == {
        "calls": 3,
        "webhook_p50_ms": 20.0,
        "webhook_p99_ms": 29.8,
        "socket_p50_ms": 2.0,
        "socket_p99_ms": 2.0,
    }
    assert figures.connects([], [])["webhook_p50_ms"] is None


def test_cpu_is_each_process_mean_over_the_rounds() -> None:
    laps = [{"gateway": 60.0, "worker-0": 30.0}, {"gateway": 40.0, "bench": 10.0}]
    assert figures.mean_cpu(laps) == {"gateway": 50.0, "worker-0": 15.0, "bench": 5.0}
    # a backend that exited mid-round took its CPU time with it: that round says nothing of PostgreSQL
    assert figures.mean_cpu([{"postgres": 40.0}, {"postgres": -439.0}]) == {"postgres": 40.0}
    assert figures.mean_cpu([{"postgres": -1.0, "gateway": 30.0}]) == {"postgres": None, "gateway": 30.0}


def voice_report() -> dict[str, Any]:
    voice_rounds = [
        [TurnSample(0.0, 0.012, 0.080, "complete"), TurnSample(0.1, 0.130, 0.200, "complete")],
        [TurnSample(5.0, 5.020, 5.100, "complete"), TurnSample(5.0, None, None, "ended: provider_down")],
    ]
    chat_rounds = [[TurnSample(2.0, 2.010, 2.060, "complete")], [TurnSample(8.0, 8.010, 8.070, "complete")]]
    calls_turns = figures.pooled(voice_rounds, planned=4)
    chat_turns = figures.pooled(chat_rounds, planned=4)
    stored = [CallTurns("CA1", 2, whole(2)), CallTurns("CA2", 1, whole(1))]
    return {
        "options": {"workers": 1, "customers": 100, "partitions": 8},
        "machine": {"cpus": 2, "python": "3.11.7"},
        "voice": {
            "calls": 2,
            "prompts": 2,
            "rounds": ["chat", "voice", "voice", "chat"],
            "delay_ms": 2,
            "connect": figures.connects([0.004, 0.006], [0.002, 0.003]),
            "voice": calls_turns,
            "first_prompt": figures.first_prompts([voice_rounds[0][:1], voice_rounds[1]]),
            "chat": chat_turns,
            **figures.beside(calls_turns, chat_turns),
            "turns": figures.lost(stored, 2),
            "read_back": {"from": "conversations", "seconds": 0.42},
            "cpu_percent_of_core": {
                "voice": {"gateway": 48.2, "worker-0": 39.0},
                "chat": {"gateway": 27.4, "worker-0": 30.0},
            },
        },
    }


def test_the_report_shows_voice_beside_chat() -> None:
    lines = render(voice_report()).splitlines()
    assert (
        lines[1]
        == "Revos benchmark, voice only: 1 worker(s), 100 customers, 8 partitions, 2 CPUs, Python 3.11.7"
    )
    assert lines[3] == (
        "Voice, 2 calls at once x 2 prompts each, beside chat at the same load (2 widget sockets x 2 messages)"
    )
    assert lines[4] == (
        "  (Twilio's webhook and ConversationRelay socket, signed as Twilio signs; one agent and the same "
        "questions on both channels; offline model, 2 ms per word; rounds: chat, voice, voice, chat)"
    )
    assert lines[5:] == [
        "                                                p50 ms    p99 ms",
        "  time to first token, prompt -> first text       20.0      29.8",
        "    chat, send -> first delta                     10.0      10.0",
        "    ratio voice / chat                           2.00x     2.98x",
        "    each call's first prompt, after setup         16.0      19.9",
        "  turn, prompt -> last token                     100.0     100.0",
        "    chat, send -> final message                   65.0      69.9",
        "    ratio voice / chat                           1.54x     1.43x",
        "  incoming webhook -> TwiML                        5.0       6.0",
        "  relay socket handshake                           2.5       3.0",
        "  3 of 4 turns answered, 10 turns/s over 0.3s (chat: 2 of 4, 15 turns/s); errors: 1 (ended: provider_down 1)",
        "  turns lost: 1 in 1 calls (3 of 4 stored with their replies, 6 of 8 messages, read back from "
        "conversations in 0.4s)",
        "  CPU during the turns, % of one core: voice: gateway 48, worker-0 39; chat: gateway 27, worker-0 30",
    ]


def test_the_title_names_voice_among_the_sections_an_only_option_picked() -> None:
    lines = render({**checks_report(), "voice": voice_report()["voice"]}).splitlines()
    assert lines[1].startswith("Revos benchmark, credits checks and voice only: ")
    assert any(line.startswith("Credits checks, 32 clients") for line in lines)
    assert "  turns lost: 1 in 1 calls" in "\n".join(lines)


@pytest.mark.parametrize(
    ("options", "pipeline", "checks", "chat", "voice"),
    [
        (BenchOptions(), True, True, True, True),
        (BenchOptions(only_voice=True), False, False, False, True),
        (BenchOptions(only_voice=True, only_chat=True), False, False, True, True),
        (BenchOptions(only_chat=True), False, False, True, False),
        (BenchOptions(only_checks=True), False, True, False, False),
        (BenchOptions(skip_voice=True), True, True, True, False),
        (BenchOptions(only_chat=True, skip_voice=True), False, False, True, False),
    ],
)
def test_voice_is_a_section_the_only_and_skip_options_pick(
    options: BenchOptions, pipeline: bool, checks: bool, chat: bool, voice: bool
) -> None:
    assert options.problem() is None
    assert (options.runs_pipeline, options.runs_checks, options.runs_chat, options.runs_voice) == (
        pipeline,
        checks,
        chat,
        voice,
    )


def test_the_voice_options_are_checked() -> None:
    positive = "--voice-calls and --voice-prompts must be positive"
    assert BenchOptions(voice_calls=0).problem() == positive
    assert BenchOptions(voice_prompts=0).problem() == positive
    assert (
        BenchOptions(skip_voice=True, only_voice=True).problem()
        == "--skip-voice and --only-voice exclude each other"
    )


def test_the_voice_flags_reach_the_options() -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    options = BenchOptions.from_args(
        parser.parse_args(["--only-voice", "--voice-calls", "7", "--voice-prompts", "2"])
    )
    assert (options.voice_calls, options.voice_prompts, options.only_voice, options.skip_voice) == (
        7,
        2,
        True,
        False,
    )
    assert BenchOptions.from_args(parser.parse_args([])) == BenchOptions()
    with pytest.raises(SystemExit):
        parser.parse_args(["--skip-voice", "--only-voice"])
