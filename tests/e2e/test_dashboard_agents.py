"""The dashboard's Agents pages through the real stack: the list, a new agent from a template, the agent's
page, tenant isolation, and the test chat's session API (a token for the gateway's own origin, for the
caller's own agents only, while every other origin still needs the allowlist)."""

from __future__ import annotations

import asyncio
import base64
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from dashboard_support import person, sign_up
from e2e_stack import Stack, eventually, stack_on_new_database
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

SITE = "https://shop.example.com"
ECHO = '[offline demo] No AI model is configured, so this is a canned reply to: "Hello"'


@pytest.fixture(scope="module")
async def stack(service_root: Path, postgres: Any) -> AsyncIterator[Stack]:
    env = {"REVOS_OFFLINE_DELAY_MS": "5"}
    async with stack_on_new_database(service_root, postgres.dsn, gateway_env=env) as running:
        yield running


class Person:
    """A signed-in dashboard user: their browser's cookie jar and the pages' CSRF token."""

    def __init__(self, browser: httpx.AsyncClient, csrf: str) -> None:
        self.browser = browser
        self.csrf = csrf

    async def api(self, method: str, path: str, body: Any = None) -> httpx.Response:
        """The API as the dashboard's forms call it: JSON, the session cookie and the CSRF token."""
        headers = {"X-CSRF-Token": self.csrf}
        return await self.browser.request(method, path, json=body, headers=headers)

    async def agent(self, **body: Any) -> str:
        made = await self.api("POST", "/v1/agents", {"template": "support", "name": "Helper", **body})
        assert made.status_code == 201, made.text
        agent_id: str = made.json()["agent_id"]
        return agent_id


async def signed_up(browser: httpx.AsyncClient, email: str) -> Person:
    assert (await sign_up(browser, email)).status_code == 303
    home = await browser.get("/dashboard")
    found = re.search(r'data-csrf="([^"]+)"', home.text)
    assert found, home.text[:500]
    return Person(browser, found.group(1))


def origin_of(token: str) -> str:
    """The origin a session token names (its payload; the signature is the gateway's to check)."""
    payload = token.split(".")[0]
    origin: str = orjson.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["o"]
    return origin


async def open_socket(stack: Stack, token: str, origin: str) -> ClientConnection:
    url = f"ws://127.0.0.1:{stack.settings.gateway_port}/v1/chat?token={token}"
    return await connect(url, origin=origin, proxy=None, open_timeout=10)  # type: ignore[arg-type]


async def next_frame(ws: ClientConnection) -> dict[str, Any]:
    while True:
        found: dict[str, Any] = orjson.loads(await asyncio.wait_for(ws.recv(), 15))
        if found["type"] == "ping":
            await ws.send('{"type": "pong"}')
            continue
        return found


async def refusal(ws: ClientConnection) -> tuple[str, int | None]:
    """The error code an unauthorized socket is sent, and the close code that follows it."""
    error = await next_frame(ws)
    with pytest.raises(ConnectionClosed):
        await asyncio.wait_for(ws.recv(), 10)
    return error["code"], ws.close_code


async def test_signed_out_agents_pages_send_you_to_sign_in(stack: Stack) -> None:
    async with person(stack) as browser:
        for path in ("/dashboard/agents", "/dashboard/agents/new", "/dashboard/agents/agt_nope"):
            answer = await browser.get(path)
            assert answer.status_code == 303, path
            assert answer.headers["location"] == "/login?next=" + path.replace("/", "%2F")


async def test_the_list_starts_empty_then_shows_an_agent_made_from_a_template(stack: Stack) -> None:
    async with person(stack) as browser:
        ada = await signed_up(browser, "ada.agents@example.com")
        empty = await browser.get("/dashboard/agents")
        assert empty.status_code == 200
        assert "No agents yet — create your first from a template" in empty.text
        assert 'href="/dashboard/agents/new"' in empty.text and "<table" not in empty.text

        new = await browser.get("/dashboard/agents/new")
        assert new.status_code == 200
        assert re.findall(r'type="radio" name="template" value="(\w+)"', new.text) == [
            "support",
            "sales",
            "onboarding",
        ]
        assert 'data-api="POST /v1/agents" data-next="/dashboard/agents/{agent_id}"' in new.text
        for label in ("Name", "Billing customer", "Create agent"):
            assert f">{label}<" in new.text, label

        agent_id = await ada.agent(template="sales", name="Sales bot", customer="acme")
        listed = await browser.get("/dashboard/agents")
        assert "No agents yet" not in listed.text
        row = re.search(r"<tr>\s*<td[^>]*><a href=\"/dashboard/agents/(agt_\w+)\">Sales bot</a></td>(.*?)</tr>",
                        listed.text, re.S)  # fmt: skip
        assert row and row.group(1) == agent_id
        assert "openrouter/auto" in row.group(2) and "none yet" in row.group(2) and " UTC" in row.group(2)

        page = await browser.get(f"/dashboard/agents/{agent_id}")
        assert page.status_code == 200
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
        for heading in ("Test it", "Prompt and model", "Branding", "Where it may run", "Delete agent"):
            assert f">{heading}</h2>" in page.text, heading
        # The template filled the prompt and the greeting; the test chat is the widget in test mode.
        assert "You are a friendly sales assistant." in page.text
        assert "Hi! Looking for the right plan? Ask me anything." in page.text
        assert f'data-agent="{agent_id}" data-mode="test" data-csrf="{ada.csrf}"' in page.text
        snippet = f"&lt;script src=&#34;{stack.url}/widget.js&#34; data-agent=&#34;{agent_id}&#34; async&gt;&lt;/script&gt;"
        assert snippet in page.text
        assert 'data-copy="snippet"' in page.text and f'href="{stack.url}/chat/{agent_id}"' in page.text
        assert f'data-api="DELETE /v1/agents/{agent_id}" data-confirm=' in page.text


async def test_another_tenants_agent_is_not_found_on_its_page_nor_in_the_api(stack: Stack) -> None:
    async with person(stack) as first, person(stack) as second:
        owner = await signed_up(first, "owner.agents@example.com")
        other = await signed_up(second, "other.agents@example.com")
        agent_id = await owner.agent(customer="acme")

        page = await second.get(f"/dashboard/agents/{agent_id}")
        assert page.status_code == 404 and "No such agent" in page.text
        assert agent_id not in (await second.get("/dashboard/agents")).text
        refused = await other.api("POST", f"/v1/agents/{agent_id}/test-sessions")
        assert refused.status_code == 404 and refused.json()["error"]["code"] == "agent_not_found"
        missing = await first.get("/dashboard/agents/agt_0000")
        assert missing.status_code == 404 and "No such agent" in missing.text

        # Deleted: gone from its page and from the test chat too.
        assert (await owner.api("DELETE", f"/v1/agents/{agent_id}")).status_code == 200
        assert (await first.get(f"/dashboard/agents/{agent_id}")).status_code == 404
        gone = await owner.api("POST", f"/v1/agents/{agent_id}/test-sessions")
        assert gone.status_code == 404


async def test_the_test_chat_talks_from_the_gateways_origin_while_sites_still_need_the_allowlist(
    stack: Stack,
) -> None:
    async with person(stack) as browser:
        lin = await signed_up(browser, "lin.agents@example.com")
        granted = await lin.api("POST", "/v1/customers/acme/grants", {"amount": "100"})
        assert granted.status_code == 201, granted.text
        agent_id = await lin.agent(customer="acme")
        assert stack.pool is not None
        user_id = await stack.pool.fetchval(
            "SELECT user_id FROM users WHERE email = 'lin.agents@example.com'"
        )
        actor = f"user:{user_id}"

        # A write: the cookie alone is not enough, the page's CSRF token must come with it.
        forged = await browser.post(f"/v1/agents/{agent_id}/test-sessions")
        assert forged.status_code == 403 and forged.json()["error"]["code"] == "csrf_failed"
        odd = await lin.api("POST", f"/v1/agents/{agent_id}/test-sessions", {"origin": SITE})
        assert odd.status_code == 400 and odd.json()["error"]["code"] == "unknown_field"
        issued = await lin.api("POST", f"/v1/agents/{agent_id}/test-sessions")
        assert issued.status_code == 201, issued.text
        body = issued.json()
        assert body["visitor_id"] == f"test:{actor}" and body["agent"]["agent_id"] == agent_id
        assert body["agent"]["branding"]["greeting"] == "Hi! How can I help you today?"

        # Behind a TLS proxy (127.0.0.1 is trusted by default) the token names the origin the browser saw.
        proxied = await lin.browser.post(
            f"/v1/agents/{agent_id}/test-sessions",
            headers={"X-CSRF-Token": lin.csrf, "X-Forwarded-Proto": "https", "Host": "chat.example.org"},
        )
        assert proxied.status_code == 201, proxied.text
        assert origin_of(proxied.json()["token"]) == "https://chat.example.org"
        assert origin_of(body["token"]) == stack.url

        # The agent allows no site at all: its own sessions are refused, the test chat's is not.
        async with httpx.AsyncClient(base_url=stack.url, timeout=30) as anyone:
            site = await anyone.post(
                "/v1/widget/sessions", json={"agent_id": agent_id}, headers={"Origin": SITE}
            )
        assert (site.status_code, site.json()["error"]["code"]) == (403, "origin_not_allowed")
        # The token is bound to the gateway's own origin: another page cannot use it.
        stolen = await open_socket(stack, body["token"], SITE)
        assert await refusal(stolen) == ("origin_not_allowed", 4403)

        ws = await open_socket(stack, body["token"], stack.url)
        await ws.send('{"type": "hello"}')
        ready = await next_frame(ws)
        assert ready["type"] == "ready", ready
        await ws.send('{"type": "send", "client_message_id": "c1", "text": "Hello"}')
        reply: dict[str, Any] = {}
        while reply.get("role") != "assistant":
            reply = await next_frame(ws)
            assert reply["type"] in ("message", "delta"), reply
        assert (reply["text"], reply["status"]) == (ECHO, "complete")
        await ws.close()

        # Stored with the dashboard's origin: the checklist's "Test it in the dashboard" step is done.
        async def tested() -> bool:
            home = await browser.get("/dashboard")
            return "2 of 5 steps done" in home.text

        await eventually(tested, what="the test conversation to count on the checklist")
        listed = (await browser.get("/v1/conversations")).json()["conversations"]
        assert [(c["origin"], c["visitor_id"]) for c in listed] == [(stack.url, f"test:{actor}")]

        # Adding the site's domain lets its pages in, as before.
        patched = await lin.api("PATCH", f"/v1/agents/{agent_id}", {"allowed_domains": ["shop.example.com"]})
        assert patched.status_code == 200, patched.text
        async with httpx.AsyncClient(base_url=stack.url, timeout=30) as anyone:
            allowed = await anyone.post(
                "/v1/widget/sessions", json={"agent_id": agent_id}, headers={"Origin": SITE}
            )
        assert allowed.status_code == 201, allowed.text

        # An API key may ask for a test session too; an ingest key may not.
        tenant = await stack.create_tenant("keys")
        async with stack.client(tenant["api_key"]) as api:
            own = await api.post("/v1/agents", json={"name": "Keyed", "customer": "c"})
            keyed = await api.post(f"/v1/agents/{own.json()['agent_id']}/test-sessions")
            assert keyed.status_code == 201 and keyed.json()["visitor_id"].startswith("test:key:")
            ingest = await api.post("/v1/keys", json={"scope": "ingest"})
            assert ingest.status_code == 201, ingest.text
        async with stack.client(ingest.json()["api_key"]) as api:
            scoped = await api.post(f"/v1/agents/{own.json()['agent_id']}/test-sessions")
            assert scoped.status_code == 403 and scoped.json()["error"]["code"] == "insufficient_scope"
