"""Phone calls that go wrong, end to end: forged webhooks and handshakes, numbers nobody answers, a customer
out of credits, a relay socket that drops, a model that fails, a silent caller, a call past its time limit.

The gateway's model is tests/fake_model_server.py (it echoes, or fails for BROKEN), and it gives up on a
silent caller after SILENCE seconds.
"""

from __future__ import annotations

import asyncio
import json
import time
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from e2e_stack import Stack, eventually, stack_on_new_database
from fake_model_server import DONE, FakeModelServer, Reply, chunk
from twilio.request_validator import RequestValidator
from twilio_simulator import TwilioSimulator
from voice_support import (
    add_agent,
    call_when,
    phone_number,
    twilio_tenant,
    voice_line,
)
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from pipeline.voice.calls import drop_rate

SILENCE = 2.0
BROKEN = "broken-model"
REPROMPT = "Are you still there?"


@pytest.fixture(scope="module")
def model_server() -> Iterator[FakeModelServer]:
    with FakeModelServer(default_delay=0.005) as server:
        yield server


@pytest.fixture(scope="module")
async def voice_stack(
    service_root: Path, postgres: Any, model_server: FakeModelServer
) -> AsyncIterator[Stack]:
    env = {"REVOS_MODEL_BASE_URL": model_server.base_url, "REVOS_MODEL_API_KEY": model_server.api_key,
           "REVOS_VOICE_SILENCE_SECONDS": str(SILENCE)}  # fmt: skip
    async with stack_on_new_database(service_root, postgres.dsn, gateway_env=env) as stack:
        yield stack


def echo(text: str) -> str:
    return f"You said: {text}"


def said_and_hung_up(answer: httpx.Response) -> str:
    """The words of a `<Say>…</Say><Hangup/>` answer (and that it is one)."""
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/xml")
    twiml = ET.fromstring(answer.text)
    assert [child.tag for child in twiml] == ["Say", "Hangup"], answer.text
    return str(twiml.find("Say").text)  # type: ignore[union-attr]


def refused(answer: httpx.Response) -> None:
    assert answer.status_code == 403, answer.text
    assert answer.json()["error"]["code"] == "invalid_signature"


async def test_webhooks_and_the_relay_socket_refuse_what_the_account_did_not_sign(voice_stack: Stack) -> None:
    line = await voice_line(voice_stack, "forged")
    call = line.twilio.call(to=line.number)
    refused(await call.incoming_response(signed_with="bm90IGEgc2lnbmF0dXJl"))
    refused(await call.incoming_response(sign=False))
    impostor = TwilioSimulator(voice_stack.url, line.twilio.account_sid, "0" * 32)
    refused(await impostor.call(to=line.number, call_sid=call.sid).incoming_response())
    # Signed for another URL: the same form posted elsewhere is not what was signed.
    form = call.form(CallStatus="ringing")
    moved = line.twilio.sign(f"{voice_stack.url}/v1/voice/twilio/status", form)
    refused(await call.incoming_response(signed_with=moved))
    refused(await call.status("completed", 10, signed_with="bm90IGEgc2lnbmF0dXJl"))

    await call.incoming()
    refused(await line.twilio.post(call.action_url, {"CallSid": call.sid, "SessionStatus": "ended"},
                                   signed_with="bm90IGEgc2lnbmF0dXJl"))  # fmt: skip
    # The handshake is signed over the relay's URL: a bad signature, or one over another URL, is refused.
    for signature in ("bm90IGEgc2lnbmF0dXJl", line.twilio.sign(call.relay_url() + "x")):
        with pytest.raises(InvalidStatus) as handshake:
            async with call.relay(signed_with=signature):
                pass
        assert handshake.value.response.status_code == 403

    # A signed socket whose call token is not ours, or is for another call, is closed (1008).
    other = line.twilio.call(to=line.number)
    await other.incoming()
    for token in ("forged-token", other.parameters()["call_token"]):
        async with call.relay(call_token=token) as relay:
            with pytest.raises(ConnectionClosed):
                await relay.next(10)
            assert relay.ws.close_code == 1008
    # The real token still works: nothing above spent it.
    async with call.relay() as relay:
        assert await relay.prompt("hello") == echo("hello")


async def test_numbers_nobody_can_answer_are_told_so_and_hung_up(voice_stack: Stack) -> None:
    tenant, twilio = await twilio_tenant(voice_stack, "nobody")
    said = said_and_hung_up(await twilio.call(to=phone_number()).incoming_response())
    assert "not in service" in said
    # A tenant without a Twilio account: nothing to check the signature with, nothing to connect.
    unset = await voice_stack.create_tenant("unset")
    line = await add_agent(voice_stack, unset, twilio, customer="c")
    assert said_and_hung_up(await twilio.call(to=line.number).incoming_response())
    # A deleted agent's number answers no more.
    gone = await add_agent(voice_stack, tenant, twilio, customer="c")
    async with voice_stack.client(tenant["api_key"]) as api:
        assert (await api.delete(f"/v1/agents/{gone.agent_id}")).status_code == 200
    said_and_hung_up(await twilio.call(to=gone.number).incoming_response())
    # A number on an agent of any tenant is taken.
    async with voice_stack.client(unset["api_key"]) as api:
        taken = await api.post("/v1/agents", json={"name": "Copy", "voice": {"phone_number": line.number}})
        assert taken.status_code == 409 and taken.json()["error"]["code"] == "phone_number_taken"
    async with voice_stack.client(tenant["api_key"]) as api:
        taken = await api.post("/v1/agents", json={"name": "Copy", "voice": {"phone_number": line.number}})
        assert taken.status_code == 409 and taken.json()["error"]["code"] == "phone_number_taken"


async def test_failed_calls_are_ended_with_their_reasons_and_listed(
    voice_stack: Stack, model_server: FakeModelServer
) -> None:
    line = await voice_line(voice_stack, "failing")
    tenant = {"api_key": line.api_key, "tenant_id": line.tenant_id}
    broken = await add_agent(voice_stack, tenant, line.twilio, customer=line.customer, model=BROKEN)
    broke = await add_agent(voice_stack, tenant, line.twilio, customer="no-credits")
    model_server.script(BROKEN, *[Reply.error(400, "model not found")] * 3)

    # A customer who may not spend: the caller is told so before anything is connected.
    poor = broke.twilio.call(to=broke.number)
    assert "cannot take calls" in said_and_hung_up(await poor.incoming_response())

    # The relay socket drops mid-call; Twilio then reports the call completed.
    dropped = line.twilio.call(to=line.number)
    async with dropped.relay(await dropped.incoming()) as relay:
        assert await relay.prompt("are you there") == echo("are you there")
        await relay.drop()
    assert (await dropped.status("completed", 12)).status_code == 204

    # The model fails: the caller hears an apology, then the gateway ends the call.
    down = broken.twilio.call(to=broken.number)
    async with down.relay(await down.incoming()) as relay:
        await relay.speak("what time is it")
        spoken = await relay.until_end()
        assert relay.end_reason() == "provider_down"
        texts = [m for m in spoken if m["type"] == "text"]
        assert texts and texts[-1]["last"] and "sorry" in "".join(m["token"] for m in texts).lower()
        await relay.ws.close()
        ended = await down.ended("completed", HandoffData=relay.end["handoffData"])  # type: ignore[index]
        assert ended.status_code == 200
    assert (await down.status("completed", 4)).status_code == 204

    # A call that went well, for contrast.
    fine = line.twilio.call(to=line.number)
    async with fine.relay(await fine.incoming()) as relay:
        assert await relay.prompt("thanks, bye") == echo("thanks, bye")
        await relay.error("Speech recognition timed out")
        await relay.hang_up()
    assert (await fine.status("completed", 9)).status_code == 204

    async with line.api(voice_stack) as api:
        await call_when(api, poor.sid, "refused", end_reason="out_of_credits")
        await call_when(api, dropped.sid, "dropped", end_reason="dropped", state="completed")
        await call_when(api, down.sid, "provider down", end_reason="provider_down")
        shown = await call_when(api, fine.sid, "hung up", end_reason="caller_hangup")
        errors = [(e["kind"], e["detail"]) for e in shown["events"] if e["kind"] == "error"]
        assert errors == [("error", "Speech recognition timed out")]
        listed = (await api.get("/v1/calls", params={"failed": "true"})).json()["calls"]
        assert sorted(c["call_sid"] for c in listed) == sorted([poor.sid, dropped.sid, down.sid])
        reasons = {c["call_sid"]: c["end_reason"] for c in listed}
        assert reasons == {poor.sid: "out_of_credits", dropped.sid: "dropped", down.sid: "provider_down"}
    # Another tenant finds none of them.
    stranger = await voice_stack.create_tenant("stranger")
    async with voice_stack.client(stranger["api_key"]) as api:
        for sid in (poor.sid, fine.sid):
            missing = await api.get(f"/v1/calls/{sid}")
            assert missing.status_code == 404 and missing.json()["error"]["code"] == "call_not_found"
        assert (await api.get("/v1/calls")).json()["calls"] == []


async def test_a_silent_caller_is_asked_once_then_the_call_ends(voice_stack: Stack) -> None:
    line = await voice_line(voice_stack, "silent")
    call = line.twilio.call(to=line.number)
    async with call.relay(await call.incoming()) as relay:
        opened = time.monotonic()
        spoken = await relay.until_end(timeout=4 * SILENCE + 10)
        elapsed = time.monotonic() - opened
        texts = [m for m in spoken if m["type"] == "text"]
        assert texts[0]["token"] == REPROMPT and all(m["last"] for m in texts)
        assert len(texts) == 2 and "goodbye" in texts[1]["token"].lower()
        assert relay.end_reason() == "silence"
        assert 2 * SILENCE <= elapsed < 2 * SILENCE + 8
        await relay.ws.close()
        await call.ended("completed")
    async with line.api(voice_stack) as api:
        await call_when(api, call.sid, "ended for silence", end_reason="silence")


async def test_a_call_ends_at_its_time_limit(voice_stack: Stack) -> None:
    line = await voice_line(voice_stack, "chatty", max_call_seconds=5)
    call = line.twilio.call(to=line.number)
    async with call.relay(await call.incoming()) as relay:
        opened = time.monotonic()
        turns = 0
        while relay.end is None:  # a caller who keeps talking is never silent
            await relay.prompt(f"and another thing {turns}")
            turns += 1
            await asyncio.sleep(0.3)  # the caller's pause between sentences
            assert time.monotonic() - opened < 20, "the call was never ended"
        assert relay.end_reason() == "max_duration"
        assert 5 <= time.monotonic() - opened < 12 and turns > 3
        await relay.ws.close()
        await call.ended("completed")
    async with line.api(voice_stack) as api:
        await call_when(api, call.sid, "ended at its limit", end_reason="max_duration")


async def test_the_twilio_account_and_phone_lines_take_only_valid_input(voice_stack: Stack) -> None:
    tenant = await voice_stack.create_tenant("inputs")
    async with voice_stack.client(tenant["api_key"]) as api:
        unset = (await api.get("/v1/voice/twilio")).json()
        assert (unset["account_sid"], unset["auth_token_set"]) == (None, False)
        for body, code in [
            ({"account_sid": "AC123", "auth_token": "a" * 32}, "invalid_account_sid"),
            ({"account_sid": "AC" + "0" * 32, "auth_token": "not a token!"}, "invalid_auth_token"),
            ({"account_sid": "AC" + "0" * 32, "auth_token": "a" * 32, "extra": 1}, "unknown_field"),
            (["AC"], "invalid_type"),
        ]:
            answer = await api.put("/v1/voice/twilio", json=body)
            assert (answer.status_code, answer.json()["error"]["code"]) == (400, code), answer.text
        assert (await api.get("/v1/voice/twilio")).json()["auth_token_set"] is False

        bad = await api.post("/v1/agents", json={"name": "P", "voice": {"phone_number": "4155550100"}})
        assert bad.status_code == 400 and bad.json()["error"]["code"], bad.text
        # A status webhook's signing secret is shown once, when it is made.
        voice = {"phone_number": phone_number(), "status_webhook_url": "https://hooks.example.com/calls"}
        created = await api.post("/v1/agents", json={"name": "P", "voice": voice})
        assert created.status_code == 201, created.text
        shown = created.json()["voice"]
        assert shown["status_webhook_secret_set"] is True and shown["status_webhook_secret"]
        again = (await api.get(f"/v1/agents/{created.json()['agent_id']}")).json()["voice"]
        assert again["status_webhook_secret_set"] is True and "status_webhook_secret" not in again
        # The token is kept, never shown.
        token = "Tk" + "9" * 30
        put = await api.put("/v1/voice/twilio", json={"account_sid": "AC" + "0" * 32, "auth_token": token})
        assert put.status_code == 200 and token not in put.text
        got = await api.get("/v1/voice/twilio")
        assert got.json()["auth_token_set"] is True and token not in got.text


# The agent ends a call itself: the model, told it is on the phone and given an `end_call` tool, says
# goodbye and calls it; the gateway sends `end` after the goodbye, and the call ends `agent_ended`.
ENDS_ACCOUNT_SID = "AC" + "7" * 32
ENDS_AUTH_TOKEN = "t" * 32
ENDS_NUMBER = "+14155550177"
ENDS_MODEL = "phone-model"


def end_call_reply() -> Reply:
    """The model says goodbye and calls `end_call` in the same answer."""
    call = [
        {
            "index": 0,
            "id": "call_end",
            "type": "function",
            "function": {"name": "end_call", "arguments": "{}"},
        }
    ]
    return Reply.stream(
        chunk("Goodbye, "),
        chunk("thanks for calling."),
        chunk(tool_calls=call),
        chunk(finish_reason="tool_calls"),
        chunk(usage=(30, 6)),
        DONE,
    )


async def test_the_model_ends_the_call_after_its_goodbye(
    voice_stack: Stack, model_server: FakeModelServer
) -> None:
    tenant = await voice_stack.create_tenant("voice-ends")
    async with voice_stack.client(tenant["api_key"]) as api:
        account = await api.put(
            "/v1/voice/twilio", json={"account_sid": ENDS_ACCOUNT_SID, "auth_token": ENDS_AUTH_TOKEN}
        )
        assert account.status_code == 200, account.text
        agent = await api.post(
            "/v1/agents",
            json={"name": "Front desk", "model": ENDS_MODEL, "voice": {"phone_number": ENDS_NUMBER}},
        )
        assert agent.status_code == 201, agent.text
    model_server.script(
        ENDS_MODEL, Reply.text(["We open ", "at nine."]), end_call_reply(), Reply.text(["Bye!"])
    )
    signer = RequestValidator(ENDS_AUTH_TOKEN)
    form = {"CallSid": "CA_ends_1", "AccountSid": ENDS_ACCOUNT_SID, "From": "+15550000001", "To": ENDS_NUMBER,
            "CallStatus": "ringing", "Direction": "inbound"}  # fmt: skip
    url = f"{voice_stack.url}/v1/voice/twilio/incoming"
    async with httpx.AsyncClient(timeout=30) as http:
        answer = await http.post(
            url, data=form, headers={"X-Twilio-Signature": signer.compute_signature(url, form)}
        )
    assert answer.status_code == 200, answer.text
    relay = ET.fromstring(answer.text).find("./Connect/ConversationRelay")
    assert relay is not None
    socket_url = relay.get("url", "")
    call_token = relay.find("Parameter").get("value")  # type: ignore[union-attr]
    heard: list[dict[str, Any]] = []
    headers = {"X-Twilio-Signature": signer.compute_signature(socket_url, {})}
    async with connect(socket_url, additional_headers=headers, proxy=None) as ws:
        setup = {"type": "setup", "sessionId": "VX1", "callSid": "CA_ends_1", "accountSid": ENDS_ACCOUNT_SID,
                 "from": form["From"], "to": ENDS_NUMBER, "customParameters": {"call_token": call_token}}  # fmt: skip
        await ws.send(json.dumps(setup))
        for said in ("When do you open?", "That's all, bye."):
            await ws.send(json.dumps({"type": "prompt", "voicePrompt": said, "lang": "en-US", "last": True}))
            while True:
                message = orjson.loads(await asyncio.wait_for(ws.recv(), 15))
                heard.append(message)
                if message["type"] == "end" or (message["type"] == "text" and message["last"]):
                    break
        while heard[-1]["type"] != "end":
            heard.append(orjson.loads(await asyncio.wait_for(ws.recv(), 15)))

    spoken = "".join(m["token"] for m in heard if m["type"] == "text")
    assert spoken.startswith("We open at nine.Goodbye, thanks for calling.")
    assert heard[-1] == {"type": "end", "handoffData": '{"reason":"agent_ended"}'}
    first = model_server.requests[-3].body
    assert "end_call" in [t["function"]["name"] for t in first["tools"]]
    assert "on the phone" in first["messages"][0]["content"]

    async with voice_stack.client(tenant["api_key"]) as api:

        async def ended() -> dict[str, Any] | None:
            got = await api.get("/v1/calls/CA_ends_1")
            return got.json() if got.status_code == 200 and got.json()["end_reason"] else None

        call = await eventually(ended, timeout=20)
    assert call["end_reason"] == "agent_ended"
    assert [t["role"] for t in call["transcript"]][:2] == ["user", "assistant"]

    # Where an operator looks: the gateway's metrics and `revos infra status`.
    async with voice_stack.client(tenant["api_key"]) as api:
        metrics = (await api.get("/metrics")).text
    assert 'revos_calls_ended{reason="agent_ended"} 1.0' in metrics
    assert "revos_call_drop_rate " in metrics
    status = voice_stack.cli("infra", "status")
    assert status.returncode == 0, status.stderr
    voice = json.loads(status.stdout)["voice"]
    assert voice["calls_ended"]["agent_ended"] == 1
    assert voice["drop_rate"] == round(drop_rate(voice["calls_ended"]) or 0.0, 4)
