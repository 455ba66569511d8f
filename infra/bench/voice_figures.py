"""The voice figures, computed purely from what the bench observed, so they are tested alone.

A call's turns are timed as chat's are (`chat_figures.TurnSample`: prompt -> first `text` token, prompt
-> the `last` token), so the two channels' figures compare line by line."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from infra.bench.chat_figures import COMPLETE, TurnSample, turns
from infra.bench.check_figures import percentiles

USER = "user"
ASSISTANT = "assistant"


@dataclass(frozen=True, slots=True)
class CallTurns:
    """One call's turns: how many prompts got their `last` token, and the messages its conversation holds
    (each with `seq`, `role`, `status` and `reply_to`, as GET /v1/calls/{sid} and /v1/conversations/{id}
    show them)."""

    call_sid: str
    answered: int
    messages: Sequence[Mapping[str, Any]]

    @property
    def stored(self) -> int:
        """The caller's messages whose complete reply is stored beside them."""
        replied = {m["reply_to"] for m in self.messages if m["role"] == ASSISTANT and m["status"] == COMPLETE}
        return sum(1 for m in self.messages if m["role"] == USER and m["seq"] in replied)


def lost(calls: Sequence[CallTurns], prompts: int) -> dict[str, Any]:
    """Turns lost: of the `prompts` each call meant to say, those that did not both get their `last` token
    on the socket and end up stored, prompt and reply, in the call's conversation."""
    planned = len(calls) * prompts
    kept = [min(c.answered, c.stored, prompts) for c in calls]
    return {
        "calls": len(calls),
        "turns_planned": planned,
        "turns_answered": sum(min(c.answered, prompts) for c in calls),
        "turns_stored": sum(min(c.stored, prompts) for c in calls),
        "messages_expected": 2 * planned,
        "messages_stored": sum(len(c.messages) for c in calls),
        "turns_lost": planned - sum(kept),
        "calls_with_a_lost_turn": sum(1 for k in kept if k < prompts),
    }


def pooled(rounds: Sequence[Sequence[TurnSample]], planned: int) -> dict[str, Any]:
    """`chat_figures.turns` over several rounds of one channel, whose rate counts only the rounds' own
    time (each from its first send to its last reply), not what ran between them."""
    out = turns([s for samples in rounds for s in samples], planned)
    walls = [turns(samples, len(samples))["seconds"] for samples in rounds if samples]
    seconds = sum(walls)
    out["seconds"] = round(seconds, 3)
    out["turns_per_s"] = round(out["complete"] / seconds, 1) if seconds > 0 else None
    return out


def beside(voice: Mapping[str, Any], chat: Mapping[str, Any]) -> dict[str, Any]:
    """Voice over chat for time to first token and turn time, p50 and p99 (None when either is unknown)."""
    out: dict[str, Any] = {}
    for figure in ("ttft_p50_ms", "ttft_p99_ms", "turn_p50_ms", "turn_p99_ms"):
        ours, theirs = voice[figure], chat[figure]
        known = ours is not None and theirs is not None and theirs > 0
        out[figure.removesuffix("_ms").replace("_p", "_ratio_p")] = round(ours / theirs, 2) if known else None
    return out


def first_prompts(calls: Sequence[Sequence[TurnSample]]) -> dict[str, Any]:
    """The turns of each call's first prompt alone (`calls`: each call's turns in order): the prompt that
    follows the relay's setup of the call at once, so it may wait for the call's conversation to start."""
    return turns([samples[0] for samples in calls if samples], len(calls))


def connects(answered: Sequence[float], opened: Sequence[float]) -> dict[str, Any]:
    """How long the incoming webhook took to answer its TwiML, and the relay socket's handshake, in s."""
    out: dict[str, Any] = {"calls": len(answered)}
    for name, values in (("webhook", answered), ("socket", opened)):
        p50, p99 = percentiles(list(values)) if values else (None, None)
        out[f"{name}_p50_ms"] = None if p50 is None else round(p50 * 1000, 2)
        out[f"{name}_p99_ms"] = None if p99 is None else round(p99 * 1000, 2)
    return out


def mean_cpu(laps: Sequence[Mapping[str, float]]) -> dict[str, float | None]:
    """Each process's mean of its CPU figures (percent of one core) over rounds of equal work. A negative
    figure is left out: PostgreSQL's CPU is its backends', and one that exits during a round takes its time
    with it (None when no round of a process could be measured)."""
    names = dict.fromkeys(name for lap in laps for name in lap)
    out: dict[str, float | None] = {}
    for name in names:
        known = [lap.get(name, 0.0) for lap in laps if lap.get(name, 0.0) >= 0]
        out[name] = round(sum(known) / len(known), 1) if known else None
    return out
