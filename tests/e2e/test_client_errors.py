"""Client error reports (`POST /v1/client-errors`) on the real stack: the widget's session token and the
dashboard's session cookie let a report in, the size cap and the limits per address and per agent hold,
and each report is a warning line in the gateway's log (read back with `revos logs`) and a count in
`revos_client_errors_total` on /metrics."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from dashboard_support import csrf_of, next_address, person, sign_up
from e2e_stack import Stack, start_stack
from test_chat_socket import GATEWAY_ENV, ORIGIN, make_agent, token_for
from waiting import eventually

IP_LIMIT = 8
AGENT_LIMIT = 3
ENV = {
    **GATEWAY_ENV,
    "REVOS_CLIENT_ERRORS_IP_PER_MINUTE": str(IP_LIMIT),
    "REVOS_CLIENT_ERRORS_AGENT_PER_MINUTE": str(AGENT_LIMIT),
}


@pytest.fixture
async def stack(service_root: Path, database: str) -> AsyncIterator[Stack]:
    running = await start_stack(service_root, database, gateway_env=ENV, log_level="info")
    try:
        yield running
    finally:
        await running.stop()


def report(**fields: Any) -> dict[str, Any]:
    return {"source": "widget", "kind": "error", "message": "boom", **fields}


async def send(
    stack: Stack,
    body: Any,
    *,
    token: str | None = None,
    origin: str | None = ORIGIN,
    address: str | None = None,
    client: httpx.AsyncClient | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    sent = {"X-Forwarded-For": address or next_address(), **(headers or {})}
    if origin:
        sent["Origin"] = origin
    params = {"token": token} if token else None
    content = body if isinstance(body, bytes) else orjson.dumps(body)
    if client is not None:
        return await client.post("/v1/client-errors", content=content, params=params, headers=sent)
    async with httpx.AsyncClient(base_url=stack.url, timeout=30.0) as http:
        # text/plain, as navigator.sendBeacon sends a string
        sent["Content-Type"] = "text/plain;charset=UTF-8"
        return await http.post("/v1/client-errors", content=content, params=params, headers=sent)


async def counted(stack: Stack, source: str, kind: str, agent_id: str) -> float:
    async with httpx.AsyncClient(base_url=stack.url, timeout=30.0) as http:
        text = (await http.get("/metrics")).text
    labels = f'agent_id="{agent_id}",kind="{kind}",source="{source}"'
    found = re.search(r"^revos_client_errors_total\{" + re.escape(labels) + r"\} (\S+)$", text, re.M)
    return float(found.group(1)) if found else 0.0


def client_error_lines(stack: Stack) -> list[dict[str, Any]]:
    done = stack.cli("logs", "--json", "--process", "gateway", "--level", "warning")
    assert done.returncode == 0, done.stderr
    lines = [orjson.loads(line) for line in done.stdout.splitlines()]
    return [line for line in lines if "client_error" in line]


async def test_widget_reports_are_authenticated_capped_logged_and_counted(stack: Stack) -> None:
    agent = await make_agent(stack, "reports", credits=None)
    token = await token_for(stack, agent.agent_id)

    missing = await send(stack, report())
    assert (missing.status_code, missing.json()["error"]["code"]) == (401, "invalid_token")
    forged = await send(stack, report(), token=token[:-4] + "AAAA")
    assert (forged.status_code, forged.json()["error"]["code"]) == (401, "invalid_token")
    elsewhere = await send(stack, report(), token=token, origin="https://evil.example.net")
    assert (elsewhere.status_code, elsewhere.json()["error"]["code"]) == (403, "origin_not_allowed")
    unknown = await send(stack, report(extra=1), token=token)
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (400, "unknown_field")
    bad_kind = await send(stack, report(kind="crash"), token=token)
    assert (bad_kind.status_code, bad_kind.json()["error"]["code"]) == (400, "invalid_kind")
    huge = await send(stack, report(stack="x" * 9000), token=token)
    assert (huge.status_code, huge.json()["error"]["code"]) == (413, "payload_too_large")
    assert await counted(stack, "widget", "error", agent.agent_id) == 0

    marker = "TypeError: marker " + uuid.uuid4().hex
    accepted = await send(
        stack,
        report(message=marker, agent_id=agent.agent_id, stack="at widget.js:1:1", url=ORIGIN + "/shop"),
        token=token,
    )
    assert accepted.status_code == 202, accepted.text
    connection = await send(stack, report(kind="connection", message="socket failed"), token=token)
    assert connection.status_code == 202, connection.text
    assert await counted(stack, "widget", "error", agent.agent_id) == 1
    assert await counted(stack, "widget", "connection", agent.agent_id) == 1

    # A report naming an agent other than its token's counts as unknown: labels stay bounded.
    other = await send(stack, report(agent_id="agt_" + uuid.uuid4().hex), token=token)
    assert other.status_code == 202, other.text
    assert await counted(stack, "widget", "error", "unknown") == 1

    async def logged() -> bool:
        return any(line["client_error"].get("message") == marker for line in client_error_lines(stack))

    await eventually(logged, timeout=30.0, what="the report's line in the gateway log")
    line = next(line for line in client_error_lines(stack) if line["client_error"].get("message") == marker)
    assert line["level"] == "warning" and line["tenant_id"] == agent.tenant_id
    assert line["client_error"]["agent_id"] == agent.agent_id
    assert line["client_error"]["url"] == ORIGIN + "/shop"
    every = "\n".join(p.read_text() for p in (stack.home / "logs").glob("*.log"))
    assert token not in every  # the token in the report's query is redacted from the access line


async def test_reports_are_limited_per_address_and_per_agent(stack: Stack) -> None:
    agent = await make_agent(stack, "limits", credits=None)
    token = await token_for(stack, agent.agent_id)
    # Per address, before the body is read: even refused reports count.
    address = next_address()
    answers = [await send(stack, report(extra=1), token=token, address=address) for _ in range(IP_LIMIT)]
    assert {a.status_code for a in answers} == {400}
    over = await send(stack, report(), token=token, address=address)
    assert (over.status_code, over.json()["error"]["code"]) == (429, "rate_limited")
    assert int(over.headers["Retry-After"]) >= 1
    # Per agent, whatever the address.
    for _ in range(AGENT_LIMIT):
        assert (await send(stack, report(), token=token)).status_code == 202
    flooded = await send(stack, report(), token=token)
    assert (flooded.status_code, flooded.json()["error"]["code"]) == (429, "rate_limited")
    assert "Retry-After" in flooded.headers
    assert await counted(stack, "widget", "error", agent.agent_id) == AGENT_LIMIT


async def test_the_dashboard_reports_with_its_session_and_csrf_token(stack: Stack) -> None:
    stranger = await make_agent(stack, "stranger", credits=None)
    async with person(stack) as browser:
        assert (await sign_up(browser, f"ops-{uuid.uuid4().hex[:8]}@example.com")).status_code == 303
        csrf = csrf_of(await browser.get("/dashboard"))
        body = {"source": "dashboard", "kind": "connection", "message": "POST /v1/agents failed"}
        no_csrf = await send(stack, body, client=browser, origin=None)
        assert (no_csrf.status_code, no_csrf.json()["error"]["code"]) == (403, "csrf_failed")
        ok = await send(stack, body, client=browser, origin=None, headers={"X-CSRF-Token": csrf})
        assert ok.status_code == 202, ok.text
        # Another tenant's agent is an unknown agent to this one.
        theirs = {**body, "kind": "error", "agent_id": stranger.agent_id}
        answer = await send(stack, theirs, client=browser, origin=None, headers={"X-CSRF-Token": csrf})
        assert answer.status_code == 202, answer.text
    signed_out = await send(stack, body, origin=None)
    assert (signed_out.status_code, signed_out.json()["error"]["code"]) == (401, "session_ended")
    assert await counted(stack, "dashboard", "connection", "unknown") == 1
    assert await counted(stack, "dashboard", "error", "unknown") == 1
    assert await counted(stack, "dashboard", "error", stranger.agent_id) == 0
