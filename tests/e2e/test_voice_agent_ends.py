"""The agent ends a call itself: the model, told it is on the phone and given an `end_call` tool, says
goodbye and calls it; the gateway sends `end` after the goodbye, and the call ends `agent_ended`.

The gateway talks to a scripted OpenAI-compatible model server (tests/fake_model_server.py), and Twilio
is played with its own request validator's signatures.
"""

from __future__ import annotations

import asyncio
import json
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
from websockets.asyncio.client import connect

ACCOUNT_SID = "AC" + "7" * 32
AUTH_TOKEN = "t" * 32
NUMBER = "+14155550177"
MODEL = "phone-model"


@pytest.fixture(scope="module")
def model_server() -> Iterator[FakeModelServer]:
    with FakeModelServer() as server:
        yield server


@pytest.fixture(scope="module")
async def voice_stack(
    service_root: Path, postgres: Any, model_server: FakeModelServer
) -> AsyncIterator[Stack]:
    env = {"REVOS_MODEL_BASE_URL": model_server.base_url, "REVOS_MODEL_API_KEY": model_server.api_key}
    async with stack_on_new_database(service_root, postgres.dsn, gateway_env=env) as stack:
        yield stack


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
            "/v1/voice/twilio", json={"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN}
        )
        assert account.status_code == 200, account.text
        agent = await api.post(
            "/v1/agents", json={"name": "Front desk", "model": MODEL, "voice": {"phone_number": NUMBER}}
        )
        assert agent.status_code == 201, agent.text
    model_server.script(MODEL, Reply.text(["We open ", "at nine."]), end_call_reply(), Reply.text(["Bye!"]))
    signer = RequestValidator(AUTH_TOKEN)
    form = {"CallSid": "CA_ends_1", "AccountSid": ACCOUNT_SID, "From": "+15550000001", "To": NUMBER,
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
        setup = {"type": "setup", "sessionId": "VX1", "callSid": "CA_ends_1", "accountSid": ACCOUNT_SID,
                 "from": form["From"], "to": NUMBER, "customParameters": {"call_token": call_token}}  # fmt: skip
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
    assert "revos_call_drop_rate 0.0" in metrics
    status = voice_stack.cli("infra", "status")
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["voice"] == {"calls_ended": {"agent_ended": 1}, "drop_rate": 0.0}
