"""A whole phone call, end to end: Twilio (tests/twilio_simulator.py) calls an agent's number on the real
stack, talks over the ConversationRelay socket, hangs up and reports the call's states, some twice and
out of order; the call, its transcript and its charges come out exactly once and in order.

The gateway answers with the offline model (a canned reply to each prompt, streamed word by word).
"""

from __future__ import annotations

import asyncio
import csv
import io
import statistics
import time
from collections.abc import AsyncIterator
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest
from e2e_stack import Stack, eventually, stack_on_new_database
from twilio_simulator import PhoneCall
from voice_support import (
    MINUTE_PRICE,
    TOKEN_PRICE,
    Line,
    call_when,
    canned,
    conversation_of,
    messages_of,
    voice_line,
)

from pipeline.voice.calls import minutes

GATEWAY_ENV = {"REVOS_OFFLINE_DELAY_MS": "5"}
GREETING = "Hello, you have reached the bakery. How can I help?"
TURNS = ("What are your opening hours?", "Do you sell rye bread?", "Can I order a cake for Saturday?")
# The offline model answers by quoting the prompt: a long one makes a reply of about 2 s (5 ms a word),
# so the caller can speak over it.
LONG = "Tell me everything: " + " ".join(f"w{i}" for i in range(400))
AFTER_INTERRUPT = "Sorry, just the Saturday hours please."
KEYPAD = "(The caller pressed 1 on the keypad.)"
CALL_SECONDS = 75  # Twilio's CallDuration for the call: 1.25 minutes


@pytest.fixture(scope="module")
async def voice_stack(service_root: Path, postgres: Any) -> AsyncIterator[Stack]:
    async with stack_on_new_database(service_root, postgres.dsn, gateway_env=GATEWAY_ENV) as stack:
        yield stack


async def test_a_call_with_turns_an_interruption_and_a_keypad_digit_is_recorded_and_billed_once(
    voice_stack: Stack,
) -> None:
    stack = voice_stack
    line = await voice_line(
        stack, "bakery", welcome_greeting=GREETING, language="en-GB", tts_provider="google",
        voice="en-GB-Journey-D", transcription_provider="deepgram", interruptible=True, max_call_seconds=600,
    )  # fmt: skip
    assert {k: line.agent["voice"][k] for k in ("phone_number", "tts_provider", "transcription_provider")} == {
        "phone_number": line.number, "tts_provider": "Google", "transcription_provider": "Deepgram"}  # fmt: skip
    async with line.api(stack) as api:
        account = (await api.get("/v1/voice/twilio")).json()
        assert account == {"provider": "twilio", "account_sid": line.twilio.account_sid,
                           "auth_token_set": True, "updated_at": account["updated_at"]}  # fmt: skip

    # The number's voice URL: TwiML that connects the call to the relay socket with the agent's settings.
    call = line.twilio.call(to=line.number, from_="+447700900123")
    twiml = await call.incoming()
    connect = twiml.find("./Connect")
    assert connect is not None
    assert connect.get("action") == f"{stack.url}/v1/voice/twilio/ended?agent_id={line.agent_id}"
    relay_settings = dict(twiml.find("./Connect/ConversationRelay").attrib)  # type: ignore[union-attr]
    port = stack.settings.gateway_port
    assert relay_settings.pop("url") == f"ws://127.0.0.1:{port}/v1/voice/relay?agent_id={line.agent_id}"
    assert relay_settings.pop("interruptible") in ("true", "any")
    assert relay_settings == {
        "language": "en-GB", "ttsProvider": "Google", "voice": "en-GB-Journey-D",
        "transcriptionProvider": "Deepgram", "welcomeGreeting": GREETING, "dtmfDetection": "true"}  # fmt: skip
    assert list(call.parameters()) == ["call_token"]
    assert (await call.status("ringing", sequence=0)).status_code == 204  # the same fact as the webhook's

    async with call.relay() as relay:
        answered_at = time.time()
        for text in TURNS:
            before = len(relay.received)
            assert await relay.prompt(text) == canned(text)
            streamed = [m for m in relay.received[before:] if m["token"]]
            assert len(streamed) > 5, "a reply is streamed token by token"
            assert relay.received[-1] == {"type": "text", "token": "", "last": True}
        # The caller speaks over a long reply after hearing its first words.
        await relay.speak(LONG)
        heard = "".join(await relay.tokens(6))
        await relay.interrupt(heard, 1500)
        # Tokens of the cut reply already on their way may precede the next reply's.
        assert (await relay.prompt(AFTER_INTERRUPT)).endswith(canned(AFTER_INTERRUPT))
        assert await relay.dtmf("1") == canned(KEYPAD)
        ended = await relay.hang_up()
        assert ended.headers["content-type"].startswith("text/xml")
        assert "<Hangup" in ended.text
        assert relay.end is None, "the caller hung up: the gateway never ended the call"
    hung_up_at = time.time()

    # Status callbacks: completed, then in-progress late, then completed again.
    completed = await call.status("completed", CALL_SECONDS, sequence=2, at=hung_up_at)
    assert completed.status_code == 204, completed.text
    assert (await call.status("in-progress", sequence=1, at=answered_at)).status_code == 204
    assert (await call.status("completed", CALL_SECONDS, sequence=2, at=hung_up_at)).status_code == 204

    said = [*TURNS, LONG, AFTER_INTERRUPT, KEYPAD]
    async with line.api(stack) as api:
        messages = await messages_of(api, line.agent_id, call.sid, 1 + 2 * len(said))
        assert [(m["seq"], m["role"]) for m in messages] == [(1, "assistant")] + [
            (seq, "user" if seq % 2 == 0 else "assistant") for seq in range(2, 14)
        ]
        assert messages[0]["content"] == GREETING and messages[0]["model"] is None
        assert [m["content"] for m in messages[1::2]] == said
        replies = messages[2::2]
        assert [r["status"] for r in replies] == ["complete"] * 3 + ["interrupted", "complete", "complete"]
        assert [r["reply_to"] for r in replies] == list(range(2, 14, 2))
        assert [r["content"] for r in replies if r["status"] == "complete"] == [
            canned(t) for t in (*TURNS, AFTER_INTERRUPT, KEYPAD)
        ]
        cut = replies[3]["content"]
        assert cut.startswith(heard) and len(cut) < len(canned(LONG))
        times = [datetime.fromisoformat(m["occurred_at"]) for m in messages]
        assert times == sorted(times)

        # Each model reply's tokens are billed once, at the burn table's price (the greeting is not).
        expected: dict[str, tuple[Decimal, Decimal]] = {}
        conversation_id = (await conversation_of(api, line.agent_id, call.sid))["conversation_id"]
        for reply in replies:
            for direction in ("input", "output"):
                tokens = Decimal(reply[f"{direction}_tokens"])
                assert tokens > 0
                expected[f"{conversation_id}:{reply['seq']}:{direction}"] = (tokens, tokens * TOKEN_PRICE)

        async def token_charges() -> dict[str, tuple[Decimal, Decimal]] | None:
            rows = await charges(api, line.customer)
            found = {c["event_id"]: (Decimal(c["quantity"]), Decimal(c["credits"]))
                     for c in rows if c["type"] == "llm.tokens"}  # fmt: skip
            return found if len(found) >= len(expected) else None

        assert await eventually(token_charges, what="the replies' token charges") == expected

        shown = await call_when(api, call.sid, "completed by the caller hanging up", state="completed",
                                end_reason="caller_hangup", duration_seconds=CALL_SECONDS)  # fmt: skip
        assert {k: shown[k] for k in ("agent_id", "from_number", "to_number", "conversation_id")} == {
            "agent_id": line.agent_id, "from_number": "+447700900123", "to_number": line.number,
            "conversation_id": conversation_id}  # fmt: skip
        started, answered, finished = (
            datetime.fromisoformat(shown[k]) for k in ("started_at", "answered_at", "ended_at")
        )
        assert started <= answered <= finished

        async def settled() -> dict[str, Any] | None:
            found: dict[str, Any] = (await api.get(f"/v1/calls/{call.sid}")).json()
            kinds = [e["kind"] for e in found["events"]]
            return found if "session_ended" in kinds and kinds.count("state") == 3 else None

        shown = await eventually(settled, what="every event of the call")
        events = shown["events"]
        assert len({e["event_id"] for e in events}) == len(events), "an event is shown twice"
        assert sorted(e["state"] for e in events if e["kind"] == "state") == [
            "completed",
            "in-progress",
            "ringing",
        ]
        by_kind = {e["kind"]: e for e in events}
        assert {"connected", "interrupted", "dtmf", "session_ended"} <= set(by_kind)
        assert (by_kind["interrupted"]["reply_to"], by_kind["interrupted"]["heard"]) == (8, heard)
        assert by_kind["interrupted"]["heard_ms"] == 1500
        assert by_kind["dtmf"]["detail"] == "1"
        assert by_kind["session_ended"]["detail"] == "ended"
        # In time order, to the second: Twilio's Timestamp has no finer resolution.
        occurred = [datetime.fromisoformat(e["occurred_at"]).replace(microsecond=0) for e in events]
        assert occurred == sorted(occurred)

        transcript = shown["transcript"]
        assert [(t["seq"], t["role"], t["status"]) for t in transcript] == [
            (m["seq"], m["role"], m["status"]) for m in messages
        ]
        assert [t["occurred_at"] for t in transcript] == [m["occurred_at"] for m in messages]
        assert [(t["seq"], t["heard"]) for t in transcript if t["interrupted"]] == [(9, heard)]

        # The call's minutes are billed once, from Twilio's CallDuration.
        async def minute_charges() -> list[dict[str, Any]] | None:
            rows = [c for c in await charges(api, line.customer) if c["type"] == "voice.minutes"]
            return rows or None

        [billed] = await eventually(minute_charges, what="the call's voice.minutes charge")
        assert Decimal(billed["quantity"]) == minutes(CALL_SECONDS) == Decimal("1.250")
        assert Decimal(billed["credits"]) == Decimal("1.250") * MINUTE_PRICE
        rows = await charges(api, line.customer)
        assert len(rows) == len(expected) + 1
        spent = sum((Decimal(c["credits"]) for c in rows), Decimal(0))
        assert spent == sum((c for _, c in expected.values()), Decimal(0)) + Decimal("2.5")
        balance = (await api.get(f"/v1/customers/{line.customer}/balance")).json()
        assert Decimal(balance["balance"]) == Decimal(1000) - spent

        # The list, its filters and the export show the call once.
        listed = (await api.get("/v1/calls", params={"agent_id": line.agent_id})).json()
        assert [c["call_sid"] for c in listed["calls"]] == [call.sid] and listed["next_cursor"] is None
        assert (await api.get("/v1/calls", params={"state": "ringing"})).json()["calls"] == []
        assert (await api.get("/v1/calls", params={"failed": "true"})).json()["calls"] == []
        exported = await api.get("/v1/calls/export", params={"format": "json"})
        assert [c["call_sid"] for c in orjson.loads(exported.content)] == [call.sid]
        table = list(
            csv.DictReader(io.StringIO((await api.get("/v1/calls/export", params={"format": "csv"})).text))
        )
        assert [(r["call_sid"], r["end_reason"], r["duration_seconds"]) for r in table] == [
            (call.sid, "caller_hangup", str(CALL_SECONDS))
        ]

        # The state history is in the order the call went through its states, although Twilio reported
        # `in-progress` after `completed` (each callback carries its Timestamp and SequenceNumber).
        assert [e["state"] for e in events if e["kind"] == "state"] == ["ringing", "in-progress", "completed"]


async def charges(api: Any, customer: str) -> list[dict[str, Any]]:
    answer = await api.get(f"/v1/customers/{customer}/charges", params={"limit": 500})
    assert answer.status_code == 200, answer.text
    found: list[dict[str, Any]] = answer.json()["charges"]
    return found


# Fifty calls at once on one gateway, each a few turns: every caller hears its own replies, and every
# turn of every call is stored. Prints (does not assert) the median time to the first spoken token.
CALLS = 50
LOAD_TURNS = 3


async def converse(line: Line, n: int) -> tuple[PhoneCall, list[float]]:
    """One caller: the webhook, the relay, LOAD_TURNS prompts each answered in full, the hang-up."""
    call = line.twilio.call(to=line.number, from_=f"+1202555{n:04d}")
    async with call.relay(await call.incoming()) as relay:
        for turn in range(LOAD_TURNS):
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
    assert len(firsts) == CALLS * LOAD_TURNS
    print(
        f"\n{CALLS} concurrent calls x {LOAD_TURNS} turns in {took:.1f} s; time to first token: median "
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
            return messages if len(messages) >= 2 * LOAD_TURNS else None

        for conversation in found:
            n = sids[conversation["visitor_id"]]
            messages = await eventually(
                lambda c=conversation["conversation_id"]: complete(c), what=f"call {n}'s turns"
            )
            said = [f"caller {n} turn {turn}" for turn in range(LOAD_TURNS)]
            assert [(m["seq"], m["role"], m["status"], m["content"]) for m in messages] == [
                row for seq, text in enumerate(said) for row in (
                    (2 * seq + 1, "user", "complete", text), (2 * seq + 2, "assistant", "complete", canned(text)))
            ]  # fmt: skip

        async def ended() -> list[dict[str, Any]] | None:
            page = (await api.get("/v1/calls", params={"agent_id": line.agent_id, "limit": 500})).json()
            calls: list[dict[str, Any]] = page["calls"]
            return calls if sum(c["end_reason"] == "caller_hangup" for c in calls) == CALLS else None

        calls = await eventually(ended, what=f"{CALLS} calls ended by the caller")
        assert sorted(f"call:{c['call_sid']}" for c in calls) == sorted(sids)
