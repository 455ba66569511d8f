"""The dashboard's admin pages through the real stack: API keys, conversations, the audit log and an
agent's tools, each read by a signed-in user, each another tenant's 404; and the signed test call of a
tool (POST /v1/agents/{agent_id}/tools/{name}/test) against a real tool server on loopback."""

from __future__ import annotations

import contextlib
import html
import re
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import Message
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from dashboard_support import person, sign_up
from e2e_stack import Stack, eventually, stack_on_new_database
from loopback_tool import loopback_tool
from test_assistants import produce

from infra.ports import free_port
from pipeline.chat import tool_signing
from pipeline.records import ChatMessageRecorded

SECRET = "a-tool-secret-of-enough-length"
ORIGIN = "https://shop.example.com"
# The gateway may call tools on loopback here (as in local development), so a real tool server answers.
GATEWAY_ENV = {"REVOS_TOOLS_ALLOW_PRIVATE": "true"}


@pytest.fixture(scope="module")
async def stack(service_root: Path, postgres: Any) -> AsyncIterator[Stack]:
    async with stack_on_new_database(service_root, postgres.dsn, gateway_env=GATEWAY_ENV) as running:
        yield running


@dataclass
class User:
    """A person signed in to the dashboard of a tenant of their own."""

    web: httpx.AsyncClient
    csrf: str
    tenant_id: str
    user_id: str
    email: str

    async def api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """An API call as the dashboard's script makes it: the session cookie and its CSRF token."""
        return await self.web.request(method, path, headers={"X-CSRF-Token": self.csrf}, **kwargs)


@contextlib.asynccontextmanager
async def signed_up(stack: Stack) -> AsyncIterator[User]:
    email = f"{uuid.uuid4().hex[:12]}@example.com"
    async with person(stack) as web:
        assert (await sign_up(web, email)).status_code == 303
        home = await web.get("/dashboard")
        csrf = re.search(r'data-csrf="([^"]+)"', home.text)
        assert csrf is not None and stack.pool is not None
        row = await stack.pool.fetchrow("SELECT user_id, tenant_id FROM users WHERE email = $1", email)
        yield User(web, csrf.group(1), row["tenant_id"], row["user_id"], email)


async def make_agent(user: User, **config: Any) -> str:
    made = await user.api("POST", "/v1/agents", json={"name": "Helper", "customer": "c1", **config})
    assert made.status_code in (201, 202), made.text
    agent_id: str = made.json()["agent_id"]

    async def stored() -> bool:
        return (await user.web.get(f"/v1/agents/{agent_id}")).status_code == 200

    await eventually(stored, what="the agent to be stored")
    return agent_id


SIGNED_IN_PAGES = [
    "/dashboard/keys",
    "/dashboard/conversations",
    "/dashboard/conversations/cnv_1",
    "/dashboard/audit",
    "/dashboard/agents/agt_1/tools",
]


@pytest.mark.parametrize("path", SIGNED_IN_PAGES)
async def test_a_signed_out_visitor_is_sent_to_sign_in_and_back(stack: Stack, path: str) -> None:
    async with person(stack) as visitor:
        answer = await visitor.get(path)
        assert answer.status_code == 303
        assert answer.headers["location"] == "/login?next=" + path.replace("/", "%2F")


# --- API keys ------------------------------------------------------------------------------------


async def test_the_keys_page_lists_keys_never_their_secrets_and_a_user_may_revoke_the_last_admin_key(
    stack: Stack,
) -> None:
    async with signed_up(stack) as user, signed_up(stack) as other:
        empty = await user.web.get("/dashboard/keys")
        assert empty.status_code == 200 and "No API keys yet" in empty.text
        assert 'data-api="POST /v1/keys" data-reveal="new-key"' in empty.text

        made = await user.api("POST", "/v1/keys", json={"scope": "admin"})
        assert made.status_code == 201, made.text
        key = made.json()
        ingest = (await user.api("POST", "/v1/keys", json={"scope": "ingest"})).json()
        theirs = (await other.api("POST", "/v1/keys", json={"scope": "admin"})).json()
        listed = (await user.web.get("/v1/keys")).json()["keys"]
        assert {k["key_id"]: k["current"] for k in listed} == {key["key_id"]: False, ingest["key_id"]: False}

        page = await user.web.get("/dashboard/keys")
        assert page.status_code == 200 and "No API keys yet" not in page.text
        assert f"{key['prefix']}…" in page.text and f"{ingest['prefix']}…" in page.text
        assert key["api_key"] not in page.text and ingest["api_key"] not in page.text
        assert theirs["prefix"] not in page.text  # another tenant's keys are not listed
        assert f'data-api="POST /v1/keys/{key["key_id"]}/rotate"' in page.text
        assert f'data-api="POST /v1/keys/{key["key_id"]}/revoke"' in page.text
        assert page.text.count('<span class="badge ok">Active</span>') == 2

        # Another tenant's key is a 404 to this user, like a missing one.
        for action in ("revoke", "rotate"):
            refused = await user.api("POST", f"/v1/keys/{theirs['key_id']}/{action}")
            assert (refused.status_code, refused.json()["error"]["code"]) == (404, "key_not_found")

        rotated = await user.api("POST", f"/v1/keys/{key['key_id']}/rotate", json={"grace_seconds": 3600})
        assert rotated.status_code == 201, rotated.text
        new = rotated.json()
        page = await user.web.get("/dashboard/keys")
        assert "Expiring" in page.text and f"{new['prefix']}…" in page.text

        # The tenant's last live admin key: a tenant with a dashboard user may revoke it (the user can
        # always issue another), so the dashboard never refuses with last_key.
        revoked = await user.api("POST", f"/v1/keys/{new['key_id']}/revoke")
        assert revoked.status_code == 200, revoked.text
        async with stack.client(new["api_key"]) as gone:
            assert (await gone.get("/v1/keys")).json()["error"]["code"] == "invalid_api_key"
        page = await user.web.get("/dashboard/keys")
        assert '<span class="badge">Revoked</span>' in page.text
        assert f'data-api="POST /v1/keys/{new["key_id"]}/revoke"' not in page.text

        # A tenant without users keeps the rule: its last admin key stays.
        tenant = await stack.create_tenant("keys-only")
        async with stack.client(tenant["api_key"]) as api:
            last = await api.post(f"/v1/keys/{tenant['key_id']}/revoke")
            assert (last.status_code, last.json()["error"]["code"]) == (409, "last_key")


# --- conversations -------------------------------------------------------------------------------

T0 = (datetime.now(UTC) - timedelta(days=2)).replace(hour=12, minute=0, second=0, microsecond=0)


def chat(tenant_id: str, agent_id: str, conversation_id: str, started: datetime) -> list[ChatMessageRecorded]:
    """A visitor's question, a tool call and its result, and the reply."""

    def message(seq: int, role: str, content: str, **extra: Any) -> ChatMessageRecorded:
        return ChatMessageRecorded(
            message_id=f"{conversation_id}:{seq}", tenant_id=tenant_id, agent_id=agent_id,
            conversation_id=conversation_id, seq=seq, role=role, content=content,
            status=extra.pop("status", "complete"), occurred_at=started + timedelta(seconds=seq),
            visitor_id="vis_1", origin=ORIGIN, **extra,
        )  # fmt: skip

    call = '[{"id": "call_1", "type": "function", "function": {"name": "lookup_order", "arguments": "{\\"order_id\\": \\"A-1\\"}"}}]'
    return [
        message(1, "user", "Where is my order <A-1>?", client_message_id="m1"),
        message(2, "assistant", "", reply_to=1, model="demo-model", tool_calls=call, input_tokens=40, output_tokens=8),
        message(3, "tool", "order A-1: shipped", reply_to=1, tool_name="lookup_order", tool_call_id="call_1"),
        message(4, "assistant", "Your order has shipped.", reply_to=1, model="demo-model", input_tokens=60,
                output_tokens=6, latency_ms=420),
    ]  # fmt: skip


async def test_conversations_are_listed_filtered_paged_exported_and_read_as_a_transcript(
    stack: Stack,
) -> None:
    async with signed_up(stack) as user, signed_up(stack) as other:
        empty = await user.web.get("/dashboard/conversations")
        assert empty.status_code == 200 and "No conversations yet" in empty.text
        first = await make_agent(user, name="Support")
        second = await make_agent(user, name="Sales")
        theirs = await make_agent(other, name="Theirs")
        # 26 conversations of the first agent, an hour apart from T0 backwards; one of the second
        # between the last two; one of another tenant's agent.
        records = [
            r for i in range(26) for r in chat(user.tenant_id, first, f"cnv_{i:02}", T0 - timedelta(hours=i))
        ]
        records += chat(user.tenant_id, second, "cnv_sales", T0 - timedelta(hours=24, minutes=30))
        records += chat(other.tenant_id, theirs, "cnv_theirs", T0)
        await produce(stack, records)

        async def projected() -> bool:
            found = (await user.web.get("/v1/conversations", params={"limit": 100})).json()["conversations"]
            mine = {c["conversation_id"]: c["last_seq"] for c in found}
            seen = (await other.web.get("/v1/conversations")).json()["conversations"]
            return (
                len(mine) == 27 and set(mine.values()) == {4} and len(seen) == 1 and seen[0]["last_seq"] == 4
            )

        await eventually(projected, what="the conversations projected", timeout=60)

        page = await user.web.get("/dashboard/conversations")
        assert page.status_code == 200
        listed = re.findall(r'href="/dashboard/conversations/(cnv_[a-z0-9_]+)"', page.text)
        assert listed == [f"cnv_{i:02}" for i in range(25)]  # newest first, one page
        assert "cnv_theirs" not in page.text and "Support" in page.text
        more = re.search(r'<a href="\?([^"]+)" rel="next">Older conversations</a>', page.text)
        assert more is not None
        older = await user.web.get("/dashboard/conversations?" + html.unescape(more.group(1)))
        assert re.findall(r'href="/dashboard/conversations/(cnv_[a-z0-9_]+)"', older.text) == [
            "cnv_sales",
            "cnv_25",
        ]
        assert 'rel="next"' not in older.text and ">Newest</a>" in older.text

        by_agent = await user.web.get("/dashboard/conversations", params={"agent_id": second})
        assert re.findall(r'href="/dashboard/conversations/(cnv_[a-z0-9_]+)"', by_agent.text) == ["cnv_sales"]
        day = (T0 - timedelta(days=1)).date().isoformat()
        by_day = await user.web.get("/dashboard/conversations", params={"from": day, "to": day})
        shown = re.findall(r'href="/dashboard/conversations/(cnv_[a-z0-9_]+)"', by_day.text)
        assert "cnv_sales" in shown and "cnv_00" not in shown
        assert all(
            (T0 - timedelta(hours=int(c[4:]))).date().isoformat() == day for c in shown if c != "cnv_sales"
        )
        nothing = await user.web.get("/dashboard/conversations", params={"agent_id": theirs})
        assert "No conversations match these filters" in nothing.text
        bad = await user.web.get("/dashboard/conversations", params={"from": "yesterday", "cursor": "junk"})
        assert bad.status_code == 200 and "Enter a date like" in bad.text and "out of date" in bad.text

        # The export links are the API's, for the same filter, and work with the session cookie.
        links = re.findall(r'href="(/v1/conversations/export\?[^"]+)"', by_agent.text)
        assert len(links) == 2
        exported = await user.web.get(html.unescape(links[1]))
        assert exported.status_code == 200
        assert {m["conversation_id"] for m in exported.json()} == {"cnv_sales"}
        as_csv = await user.web.get(html.unescape(links[0]))
        assert as_csv.text.startswith("conversation_id,seq,role") and as_csv.text.count("cnv_sales") == 4

        transcript = await user.web.get("/dashboard/conversations/cnv_sales")
        assert transcript.status_code == 200
        text = transcript.text
        assert "Conversation with Sales" in text and "Where is my order &lt;A-1&gt;?" in text
        assert "Your order has shipped." in text and "order A-1: shipped" in text
        assert "Tool lookup_order" in text and "Called <code>lookup_order</code>" in text
        assert "60 tokens in, 6 out" in text and "100 in · 14 out" in text
        assert text.index("Where is my order") < text.index("order A-1: shipped") < text.index("has shipped")

        for missing in ("/dashboard/conversations/cnv_theirs", "/dashboard/conversations/cnv_nothing"):
            answer = await user.web.get(missing)
            assert answer.status_code == 404 and "No such conversation" in answer.text


# --- the audit log -------------------------------------------------------------------------------


async def test_the_audit_log_shows_who_changed_what_newest_first_filtered_and_paged(stack: Stack) -> None:
    async with signed_up(stack) as user, signed_up(stack) as other:
        agent_id = await make_agent(user, system_prompt="Be brief.")
        changed = await user.api("PATCH", f"/v1/agents/{agent_id}", json={"system_prompt": "Be kind."})
        assert changed.status_code in (200, 202), changed.text
        await make_agent(other, name="Secret project")
        target = f"agent:{agent_id}"

        async def logged() -> bool:
            entries = (await user.web.get("/v1/audit", params={"target": target})).json()["entries"]
            return len(entries) == 2

        await eventually(logged, what="the agent's audit entries")
        page = await user.web.get("/dashboard/audit")
        assert page.status_code == 200
        actions = re.findall(r'<span class="badge">([a-z_.]+)</span>', page.text)
        assert actions == ["agent.update", "agent.create", "user.create", "tenant.create"]
        assert page.text.count(f'by <span class="actor">{user.email}</span>') == 4
        assert f"user:{user.user_id}" in page.text
        assert "Secret project" not in page.text  # another tenant's entries are not shown
        # The update shows the field it changed, before and after; not the fields it left alone.
        update = page.text[: page.text.index('<span class="badge">agent.create</span>')]
        assert re.search(
            r'<th scope="row">system_<wbr>prompt</th><td class="wrap">Be brief\.</td><td class="wrap">Be kind\.</td>',
            update,
        )
        assert '<th scope="row">name</th>' not in update

        filtered = await user.web.get("/dashboard/audit", params={"action": "agent.create"})
        assert re.findall(r'<span class="badge">([a-z_.]+)</span>', filtered.text) == ["agent.create"]
        by_target = await user.web.get("/dashboard/audit", params={"target": target})
        assert re.findall(r'<span class="badge">([a-z_.]+)</span>', by_target.text) == [
            "agent.update",
            "agent.create",
        ]
        later = (datetime.now(UTC) + timedelta(days=2)).date().isoformat()
        none = await user.web.get("/dashboard/audit", params={"since": later})
        assert "No entries match these filters" in none.text
        bad = await user.web.get("/dashboard/audit", params={"since": "soon", "before": "x"})
        assert bad.status_code == 200 and "Enter a date like" in bad.text

        # 55 more entries: a page holds 50, the next link shows the rest, oldest last.
        for _ in range(55):
            assert (await user.api("POST", "/v1/keys", json={"scope": "ingest"})).status_code == 201

        async def all_logged() -> bool:
            return len((await user.web.get("/v1/audit")).json()["entries"]) == 59

        await eventually(all_logged, what="the keys' audit entries")
        first_page = await user.web.get("/dashboard/audit")
        assert len(re.findall(r'<li class="entry">', first_page.text)) == 50
        more = re.search(r'<a href="\?([^"]+)" rel="next">Older entries</a>', first_page.text)
        assert more is not None
        second_page = await user.web.get("/dashboard/audit?" + html.unescape(more.group(1)))
        assert re.findall(r'<span class="badge">([a-z_.]+)</span>', second_page.text) == [
            "api_key.issue"
        ] * 5 + ["agent.update", "agent.create", "user.create", "tenant.create"]
        assert 'rel="next"' not in second_page.text


# --- tools ---------------------------------------------------------------------------------------


@dataclass
class Received:
    bodies: list[bytes]


@pytest.fixture
def order_tool() -> Iterator[tuple[str, Received]]:
    """A tool that answers only requests signed with SECRET, on loopback."""
    received = Received([])

    def answer(headers: Message, body: bytes) -> tuple[int, bytes]:
        received.bodies.append(body)
        genuine = tool_signing.verify(
            SECRET, headers["X-Revos-Timestamp"], body, headers["X-Revos-Signature"],
            delivery=headers["X-Revos-Delivery"], now=time.time(),
        )  # fmt: skip
        if not genuine:
            return 401, b"bad signature"
        arguments = orjson.loads(body)["arguments"]
        return 200, f"order {arguments.get('order_id')}: shipped".encode()

    with loopback_tool(answer, path="/orders") as url:
        yield url, received


@pytest.fixture
def failing_tool() -> Iterator[str]:
    with loopback_tool(lambda headers, body: (500, b"database down"), path="/broken") as url:
        yield url


def tool(name: str, url: str, **extra: Any) -> dict[str, Any]:
    schema = {"type": "object", "properties": {"order_id": {"type": "string"}}}
    return {
        "name": name,
        "description": "Find an order",
        "url": url,
        "secret": SECRET,
        "parameters": schema,
        **extra,
    }


async def test_a_test_call_is_signed_as_a_chat_turn_and_shows_the_request_and_the_answer(
    stack: Stack, order_tool: tuple[str, Received], failing_tool: str
) -> None:
    url, received = order_tool
    dead = f"http://127.0.0.1:{free_port()}/gone"
    async with signed_up(stack) as user, signed_up(stack) as other:
        tools = [
            tool("lookup_order", url),
            tool("broken", failing_tool),
            tool("gone", dead, timeout_seconds=2),
        ]
        agent_id = await make_agent(user, tools=tools)
        theirs = await make_agent(other, tools=[tool("lookup_order", url)])

        called = await user.api("POST", f"/v1/agents/{agent_id}/tools/lookup_order/test",
                                json={"arguments": {"order_id": "A-1"}})  # fmt: skip
        assert called.status_code == 200, called.text
        shown = called.json()
        assert SECRET not in called.text
        assert (shown["ok"], shown["error"], shown["result"]) == (True, None, "order A-1: shipped")
        request, response = shown["request"], shown["response"]
        assert (request["method"], request["url"]) == ("POST", url)
        assert request["headers"]["x-revos-signature"].startswith("sha256=")
        assert request["headers"]["x-revos-delivery"].startswith("dlv_")
        assert request["headers"]["content-type"] == "application/json"
        assert received.bodies == [request["body"].encode()]  # the body shown is the body signed
        assert orjson.loads(request["body"]) == {
            "tool": "lookup_order",
            "arguments": {"order_id": "A-1"},
            "context": {"tenant_id": user.tenant_id, "agent_id": agent_id, "conversation_id": "test",
                        "visitor_id": "test", "visitor_id_verified": False, "test": True},
        }  # fmt: skip
        assert (response["status"], response["body"], response["truncated"]) == (
            200,
            "order A-1: shipped",
            False,
        )
        assert response["headers"]["content-type"] == "text/plain"
        assert isinstance(shown["duration_ms"], int)

        # A tool answering 500: the model would be told the status; the test shows the body too.
        broken = (await user.api("POST", f"/v1/agents/{agent_id}/tools/broken/test")).json()
        assert (broken["ok"], broken["error"]) == (False, "the tool answered HTTP 500")
        assert broken["result"] == '{"error":"the tool answered HTTP 500"}'
        assert (broken["response"]["status"], broken["response"]["body"]) == (500, "database down")

        # Nothing listening: the request that was attempted, no answer.
        gone = (await user.api("POST", f"/v1/agents/{agent_id}/tools/gone/test", json={})).json()
        assert gone["ok"] is False and gone["response"] is None and gone["request"]["url"] == dead
        assert gone["error"].startswith("the tool could not be reached")

        # Editing one tool as the tools page does (the others named without their secrets) keeps theirs.
        kept = [{k: v for k, v in t.items() if k != "secret"} for t in tools]
        kept[1]["description"] = "Always fails"
        edited = await user.api("PATCH", f"/v1/agents/{agent_id}", json={"tools": kept})
        assert edited.status_code in (200, 202), edited.text
        again = (await user.api("POST", f"/v1/agents/{agent_id}/tools/lookup_order/test",
                                json={"arguments": {"order_id": "B-2"}})).json()  # fmt: skip
        assert (again["ok"], again["result"]) == (True, "order B-2: shipped")

        for path, code in (
            (f"/v1/agents/{agent_id}/tools/nothing/test", "tool_not_found"),
            (f"/v1/agents/{theirs}/tools/lookup_order/test", "agent_not_found"),
            ("/v1/agents/agt_missing/tools/lookup_order/test", "agent_not_found"),
        ):
            refused = await user.api("POST", path, json={})
            assert (refused.status_code, refused.json()["error"]["code"]) == (404, code)
        for body, code in (({"arguments": [1]}, "invalid_arguments"), ({"args": {}}, "unknown_field")):
            refused = await user.api("POST", f"/v1/agents/{agent_id}/tools/lookup_order/test", json=body)
            assert (refused.status_code, refused.json()["error"]["code"]) == (400, code)
        forged = await user.web.post(f"/v1/agents/{agent_id}/tools/lookup_order/test", json={})
        assert (forged.status_code, forged.json()["error"]["code"]) == (403, "csrf_failed")
        assert len(received.bodies) == 2  # only the two genuine test calls reached the tool


async def test_a_test_call_obeys_the_tool_address_rules(
    stack: Stack, order_tool: tuple[str, Received]
) -> None:
    url, received = order_tool
    port = free_port()
    guarded = stack.spawn_gateway(
        "gateway-guarded", {"REVOS_GATEWAY_PORT": str(port), "REVOS_TOOLS_ALLOW_PRIVATE": "false"}
    )
    try:
        await stack.wait_ready(url=f"http://127.0.0.1:{port}")
        tenant = await stack.create_tenant("guarded")
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}",
            headers={"Authorization": f"Bearer {tenant['api_key']}"},
            timeout=30,
        ) as api:
            made = await api.post(
                "/v1/agents", json={"name": "Helper", "customer": "c1", "tools": [tool("lookup_order", url)]}
            )
            assert made.status_code == 201, made.text
            shown = (await api.post(f"/v1/agents/{made.json()['agent_id']}/tools/lookup_order/test")).json()
        assert shown["ok"] is False and shown["response"] is None
        assert shown["error"] == "the tool's address 127.0.0.1 is not public"
        assert received.bodies == []
    finally:
        guarded.stop(10)


async def test_the_tools_page_lists_tools_carries_the_others_without_secrets_and_is_the_tenants_own(
    stack: Stack, order_tool: tuple[str, Received]
) -> None:
    url, _ = order_tool
    async with signed_up(stack) as user, signed_up(stack) as other:
        bare = await make_agent(user, name="Bare")
        empty = await user.web.get(f"/dashboard/agents/{bare}/tools")
        assert empty.status_code == 200 and "No tools yet" in empty.text and "Tools of Bare" in empty.text
        secret = re.search(r'name="tools\.0\.secret" value="([^"]+)"', empty.text)
        assert secret is not None and len(secret.group(1)) >= 32  # a new tool's secret, made for it

        agent_id = await make_agent(
            user, name="Orders", tools=[tool("lookup_order", url), tool("stock", url)]
        )
        page = await user.web.get(f"/dashboard/agents/{agent_id}/tools")
        assert page.status_code == 200 and SECRET not in page.text
        assert "<code>lookup_order</code>" in page.text and "<code>stock</code>" in page.text
        assert f'data-api="POST /v1/agents/{agent_id}/tools/lookup_order/test"' in page.text
        # The add form carries both tools (without secrets) and the new one at index 2.
        add = page.text[page.text.index('id="add-title"') :]
        assert (
            'name="tools.0.name" value="lookup_order"' in add and 'name="tools.1.name" value="stock"' in add
        )
        assert 'name="tools.2.name"' in add and 'name="tools.2.secret"' in add
        assert 'name="tools.0.secret"' not in add and 'name="tools.1.secret"' not in add
        # The delete form of lookup_order carries stock alone, at index 0.
        delete = page.text[: page.text.index('Delete<span class="visually-hidden"> tool lookup_order')]
        delete = delete[delete.rindex("<form") :]
        assert re.findall(r'name="tools\.(\d+)\.name" value="(\w+)"', delete) == [("0", "stock")]

        for path in (f"/dashboard/agents/{agent_id}/tools", "/dashboard/agents/agt_nothing/tools"):
            answer = await other.web.get(path)
            assert answer.status_code == 404 and "No such agent" in answer.text
