"""Rate limits hold across gateway replicas: two gateway processes on one database allow what one does.

Every client here connects from 127.0.0.1, which the gateways trust as a proxy, so each request names
the visitor's address in `X-Forwarded-For` as a proxy would.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from e2e_stack import Stack, stack_on_new_database
from test_chat_socket import ORIGIN, Chat, make_agent
from websockets.asyncio.client import connect

from infra.ports import free_port

LIMITS = {
    "REVOS_OFFLINE_DELAY_MS": "1",
    "REVOS_CHAT_NEW_SESSIONS_PER_MINUTE": "4",
    "REVOS_CHAT_CONNECTS_PER_MINUTE": "4",
    "REVOS_CHAT_SESSION_PER_MINUTE": "2",
    "REVOS_CHAT_SESSION_BURST": "2",
    "REVOS_API_KEY_PER_SECOND": "1",
    "REVOS_API_KEY_BURST": "6",
}


@pytest.fixture(scope="module")
async def two_gateways(service_root: Path, postgres: Any) -> AsyncIterator[tuple[Stack, int]]:
    async with stack_on_new_database(service_root, postgres.dsn, gateway_env=LIMITS) as stack:
        port = free_port()
        other = stack.spawn_gateway("gateway-2", {**LIMITS, "REVOS_GATEWAY_PORT": str(port)})
        try:
            await stack.wait_ready(url=f"http://127.0.0.1:{port}")
            yield stack, port
        finally:
            print(other.log_tail(100))
            other.stop(10)


def _urls(stack: Stack, port: int) -> list[str]:
    return [stack.url, f"http://127.0.0.1:{port}"]


async def _sessions(
    urls: list[str], agent_id: str, forwarded_for: str, n: int, **body: str
) -> list[httpx.Response]:
    """`n` session requests from one visitor address, alternating between the gateways."""
    answers = []
    for i in range(n):
        async with httpx.AsyncClient(base_url=urls[i % len(urls)], timeout=30) as http:
            answers.append(
                await http.post(
                    "/v1/widget/sessions",
                    json={"agent_id": agent_id, **body},
                    headers={"Origin": ORIGIN, "X-Forwarded-For": forwarded_for},
                )
            )
    return answers


def _refused(answer: httpx.Response) -> bool:
    if answer.status_code != 429:
        return False
    assert answer.json()["error"]["code"] == "rate_limited", answer.text
    assert 1 <= int(answer.headers["Retry-After"]) <= 15, answer.headers
    return True


async def test_session_issuance_is_limited_per_address_across_gateways(
    two_gateways: tuple[Stack, int],
) -> None:
    stack, port = two_gateways
    urls = _urls(stack, port)
    agent = await make_agent(stack, "sessions", credits=None)

    answers = await _sessions(urls, agent.agent_id, "203.0.113.7", 10)
    assert [a.status_code for a in answers] == [201] * 4 + [429] * 6, [a.text for a in answers]
    assert all(_refused(a) for a in answers[4:])
    assert answers[4].headers["access-control-allow-origin"] == ORIGIN  # the widget can read why

    # A left-most address the client wrote itself changes nothing: the proxy's own entry counts.
    (spoofed,) = await _sessions(urls, agent.agent_id, "198.51.100.1, 203.0.113.7", 1)
    assert _refused(spoofed)
    # Another address has its own allowance.
    assert [a.status_code for a in await _sessions(urls, agent.agent_id, "203.0.113.8", 1)] == [201]

    # IPv6 addresses are counted by their /64: a host's rotating addresses share one allowance.
    rotating = [f"2001:db8:1:2::{i:x}" for i in range(1, 7)]
    answers = [(await _sessions(urls, agent.agent_id, address, 1))[0] for address in rotating]
    assert [a.status_code for a in answers] == [201] * 4 + [429] * 2
    neighbour = await _sessions(urls, agent.agent_id, "2001:db8:1:3::1", 1)
    assert [a.status_code for a in neighbour] == [201]


async def test_an_api_key_is_limited_across_gateways(two_gateways: tuple[Stack, int]) -> None:
    stack, port = two_gateways
    tenant = await stack.create_tenant("api-limit")
    headers = {"Authorization": f"Bearer {tenant['api_key']}"}
    clients = [httpx.AsyncClient(base_url=url, headers=headers, timeout=30) for url in _urls(stack, port)]
    try:
        started = time.monotonic()
        answers = [await clients[i % 2].get("/v1/keys") for i in range(16)]
        elapsed = time.monotonic() - started
    finally:
        for client in clients:
            await client.aclose()
    passed = sum(a.status_code == 200 for a in answers)
    # A burst of 6 and one a second: N gateways must not allow N times as many.
    assert 6 <= passed <= 6 + int(elapsed) + 1, (passed, elapsed)
    assert all(_refused(a) for a in answers if a.status_code != 200)
    assert [a.status_code for a in answers[:6]] == [200] * 6


async def _open(url: str, token: str, forwarded_for: str) -> Chat:
    ws_url = url.replace("http://", "ws://") + f"/v1/chat?token={token}"
    ws = await connect(
        ws_url,
        origin=ORIGIN,  # type: ignore[arg-type]
        proxy=None,
        open_timeout=10,
        additional_headers={"X-Forwarded-For": forwarded_for},
    )
    return Chat(ws)


async def test_socket_opens_and_messages_are_limited_across_gateways(
    two_gateways: tuple[Stack, int],
) -> None:
    stack, port = two_gateways
    urls = _urls(stack, port)
    agent = await make_agent(stack, "sockets", credits="1000")
    (issued,) = await _sessions(urls, agent.agent_id, "192.0.2.10", 1)
    token = issued.json()["token"]

    # Messages: the visitor's allowance (a burst of 2) is shared by its sockets on both gateways.
    first, second = [await _open(url, token, "192.0.2.10") for url in urls]
    for i, chat in enumerate((first, second)):
        await chat.hello()
        await chat.send(f"m{i}", "hello")
        assert (await chat.frame())["type"] == "message"
        await chat.reply(1)
    await second.send("m2", "once more")
    refused = await second.frame()
    assert (refused["type"], refused["code"]) == ("error", "rate_limited"), refused
    assert 1 <= refused["retry_after"] <= 30
    # A new session for the same visitor does not start a new allowance.
    visitor = issued.json()["visitor_id"]
    (again,) = await _sessions(urls, agent.agent_id, "192.0.2.10", 1, visitor_id=visitor)
    assert again.status_code == 201
    third = await _open(urls[0], again.json()["token"], "192.0.2.10")
    await third.hello()
    await third.send("m3", "and again")
    assert (await third.frame())["code"] == "rate_limited"
    for chat in (first, second, third):
        await chat.ws.close()

    # Socket opens: four per address a minute, whichever gateway they reach; then an error frame
    # `rate_limited` and close code 4429.
    opened = [await _open(urls[i % 2], token, "192.0.2.20") for i in range(4)]
    for chat in opened:
        await chat.hello()
    late = await _open(urls[0], token, "192.0.2.20")
    error = orjson.loads(await asyncio.wait_for(late.ws.recv(), 10))
    assert (error["type"], error["code"]) == ("error", "rate_limited"), error
    assert error["retry_after"] >= 1
    await asyncio.wait_for(late.ws.wait_closed(), 10)
    assert late.ws.close_code == 4429
    for chat in opened:
        await chat.ws.close()
