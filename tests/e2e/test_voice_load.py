"""Fifty phone calls at once on one gateway, each a few turns: every caller hears its own replies, and
every turn of every call is stored. Prints (does not assert) the median time to the first spoken token."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from e2e_stack import Stack, eventually, stack_on_new_database
from twilio_simulator import PhoneCall
from voice_support import Line, canned, needs_calls_projection, voice_line

GATEWAY_ENV = {"REVOS_OFFLINE_DELAY_MS": "5"}
CALLS = 50
TURNS = 3


@pytest.fixture(scope="module")
async def voice_stack(service_root: Path, postgres: Any) -> AsyncIterator[Stack]:
    async with stack_on_new_database(service_root, postgres.dsn, gateway_env=GATEWAY_ENV) as stack:
        yield stack


async def converse(line: Line, n: int) -> tuple[PhoneCall, list[float]]:
    """One caller: the webhook, the relay, TURNS prompts each answered in full, the hang-up."""
    call = line.twilio.call(to=line.number, from_=f"+1202555{n:04d}")
    async with call.relay(await call.incoming()) as relay:
        for turn in range(TURNS):
            text = f"caller {n} turn {turn}"
            assert await relay.prompt(text, timeout=60) == canned(text)
        await relay.hang_up()
    assert (await call.status("completed", 30)).status_code == 204
    return call, relay.first_token_seconds


async def test_fifty_concurrent_calls_lose_no_turn(voice_stack: Stack) -> None:
    line = await voice_line(voice_stack, "callcentre", credits="100000")
    started = time.monotonic()
    done = await asyncio.gather(*(converse(line, n) for n in range(CALLS)))
    took = time.monotonic() - started
    firsts = [s for _, seconds in done for s in seconds]
    assert len(firsts) == CALLS * TURNS
    print(
        f"\n{CALLS} concurrent calls x {TURNS} turns in {took:.1f} s; time to first token: median "
        f"{statistics.median(firsts) * 1000:.0f} ms, max {max(firsts) * 1000:.0f} ms"
    )

    # Every call's conversation holds each prompt and its reply, in order, once.
    sids = {f"call:{call.sid}": n for n, (call, _) in enumerate(done)}
    async with line.api(voice_stack) as api:

        async def conversations() -> list[dict[str, Any]] | None:
            page = await api.get("/v1/conversations", params={"agent_id": line.agent_id, "limit": 500})
            found: list[dict[str, Any]] = page.json()["conversations"]
            return found if len(found) >= CALLS else None

        found = await eventually(conversations, what=f"{CALLS} conversations")
        assert sorted(c["visitor_id"] for c in found) == sorted(sids)

        async def complete(conversation_id: str) -> list[dict[str, Any]] | None:
            messages: list[dict[str, Any]] = (await api.get(f"/v1/conversations/{conversation_id}")).json()[
                "messages"
            ]
            return messages if len(messages) >= 2 * TURNS else None

        for conversation in found:
            n = sids[conversation["visitor_id"]]
            messages = await eventually(
                lambda c=conversation["conversation_id"]: complete(c), what=f"call {n}'s turns"
            )
            said = [f"caller {n} turn {turn}" for turn in range(TURNS)]
            assert [(m["seq"], m["role"], m["status"], m["content"]) for m in messages] == [
                row for seq, text in enumerate(said) for row in (
                    (2 * seq + 1, "user", "complete", text), (2 * seq + 2, "assistant", "complete", canned(text)))
            ]  # fmt: skip

        needs_calls_projection()

        async def ended() -> list[dict[str, Any]] | None:
            page = (await api.get("/v1/calls", params={"agent_id": line.agent_id, "limit": 500})).json()
            calls: list[dict[str, Any]] = page["calls"]
            return calls if sum(c["end_reason"] == "caller_hangup" for c in calls) == CALLS else None

        calls = await eventually(ended, what=f"{CALLS} calls ended by the caller")
        assert sorted(f"call:{c['call_sid']}" for c in calls) == sorted(sids)
