"""The chat widget's session tokens and websocket, end to end: real sockets to the real gateway, the
offline model, records on the broker, the chat projection and the billing fold.

One stack serves the whole module (each test has its own tenant): the gateway runs with a fast
offline model, short heartbeats and no per-address limits (every client here shares 127.0.0.1).
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from email.message import Message
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from e2e_stack import Stack, eventually, stack_on_new_database
from loopback_tool import loopback_tool
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from infra.ports import free_port
from pipeline.chat import tool_signing, widget_tokens
from pipeline.chat.offline import words
from projections import outbox

ORIGIN = "https://shop.example.com"
PRICE = Decimal("0.01")  # credits per token
GATEWAY_ENV = {
    "REVOS_OFFLINE_DELAY_MS": "5",
    "REVOS_CHAT_IP_PER_MINUTE": "1000000",
    "REVOS_CHAT_NEW_SESSIONS_PER_MINUTE": "1000000",
    "REVOS_CHAT_CONNECTS_PER_MINUTE": "1000000",
    "REVOS_CHAT_PING_SECONDS": "1",
    # Long enough that a hundred conversations on a loaded machine answer their pings in time.
    "REVOS_CHAT_IDLE_SECONDS": "8",
}
UNAVAILABLE = "This assistant is unavailable right now. Please try again later."
# The offline model echoes the visitor's text: a long one makes a long reply (2 s at 5 ms a word), so
# a cut lands mid-stream even when a busy client reads its deltas late.
LONG = " ".join(f"w{i}" for i in range(400))
CLIENTS = 100
AT_ONCE = 50


@pytest.fixture(scope="module")
async def chat_stack(service_root: Path, postgres: Any) -> AsyncIterator[Stack]:
    async with stack_on_new_database(service_root, postgres.dsn, gateway_env=GATEWAY_ENV) as stack:
        yield stack


@dataclass
class Agent:
    api_key: str
    tenant_id: str
    agent_id: str
    customer: str


async def make_agent(stack: Stack, name: str, *, credits: str | None, **config: Any) -> Agent:
    """A tenant with an `llm.tokens` price, a customer holding `credits`, and an agent for it."""
    tenant = await stack.create_tenant(name)
    customer = f"{name}-customer"
    async with stack.client(tenant["api_key"]) as api:
        table = {"rules": [{"type": "llm.tokens", "credits_per_unit": str(PRICE)}]}
        assert (await api.put("/v1/burn-tables/default", json=table)).status_code == 200
        if credits is not None:
            granted = await api.post(f"/v1/customers/{customer}/grants", json={"amount": credits})
            assert granted.status_code == 201, granted.text
        body = {"name": "Helper", "customer": customer, "model": "demo-model", "system_prompt": "Be brief.",
                "allowed_domains": ["shop.example.com"], **config}  # fmt: skip
        created = await api.post("/v1/agents", json=body)
        assert created.status_code == 201, created.text
    return Agent(tenant["api_key"], tenant["tenant_id"], created.json()["agent_id"], customer)


async def session(stack: Stack, agent_id: str, origin: str | None = ORIGIN, **body: Any) -> httpx.Response:
    headers = {"Origin": origin} if origin else {}
    async with httpx.AsyncClient(base_url=stack.url, timeout=30) as http:
        return await http.post("/v1/widget/sessions", json={"agent_id": agent_id, **body}, headers=headers)


async def token_for(stack: Stack, agent_id: str) -> str:
    answer = await session(stack, agent_id)
    assert answer.status_code == 201, answer.text
    token: str = answer.json()["token"]
    return token


@dataclass
class Chat:
    """A widget's side of the socket: answers pings, keeps every message frame it was sent."""

    ws: ClientConnection
    messages: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    async def open(cls, stack: Stack, token: str, origin: str = ORIGIN, port: int | None = None) -> Chat:
        url = f"ws://127.0.0.1:{port or stack.settings.gateway_port}/v1/chat?token={token}"
        return cls(await connect(url, origin=origin, proxy=None, open_timeout=10))  # type: ignore[arg-type]

    @property
    def last_seq(self) -> int:
        return self.messages[-1]["seq"] if self.messages else 0

    async def frame(self, timeout: float = 15.0) -> dict[str, Any]:
        while True:
            found: dict[str, Any] = orjson.loads(await asyncio.wait_for(self.ws.recv(), timeout))
            if found["type"] == "ping":
                await self.put({"type": "pong"})
                continue
            if found["type"] == "message":
                self.messages.append(found)
            return found

    async def put(self, frame: dict[str, Any]) -> None:
        await self.ws.send(orjson.dumps(frame).decode())

    async def hello(self, **fields: Any) -> dict[str, Any]:
        await self.put({"type": "hello", **fields})
        ready = await self.frame()
        assert ready["type"] == "ready", ready
        return ready

    async def send(self, client_message_id: str, text: str) -> None:
        await self.put({"type": "send", "client_message_id": client_message_id, "text": text})

    async def reply(self, reply_to: int) -> tuple[list[str], list[dict[str, Any]]]:
        """Deltas and messages up to the final reply (an assistant message without tool calls)."""
        deltas: list[str] = []
        messages = []
        while True:
            f = await self.frame()
            if f["type"] == "delta":
                assert f["reply_to"] == reply_to
                deltas.append(f["text"])
            elif f["type"] == "message":
                messages.append(f)
                if f["role"] == "assistant" and not f.get("tool_calls"):
                    return deltas, messages
            else:
                raise AssertionError(f"unexpected frame {f}")

    async def refusal(self) -> tuple[dict[str, Any], int | None]:
        """The error frame an unauthorized socket gets, and the close code that follows it."""
        error = orjson.loads(await asyncio.wait_for(self.ws.recv(), 10))
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(self.ws.recv(), 10)
        await self.ws.close()
        return error, self.ws.close_code


async def charges(api: httpx.AsyncClient, customer: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = (await api.get(f"/v1/customers/{customer}/charges")).json()["charges"]
    return found


async def test_a_reply_streams_then_is_billed_at_the_burn_table_price_and_tools_round_trip(
    chat_stack: Stack,
) -> None:
    # A tool on a private address: the gateway refuses to call into its own network; the turn goes on.
    dead_tool = f"http://127.0.0.1:{free_port()}/lookup"
    tool = {"name": "lookup", "description": "Find an order", "url": dead_tool, "secret": "s" * 20,
            "parameters": {"type": "object", "properties": {"id": {"type": "integer"}}}}  # fmt: skip
    agent = await make_agent(chat_stack, "stream", credits="1000", tools=[tool])
    created = await session(chat_stack, agent.agent_id, visitor_id="vis_returning")
    assert created.status_code == 201, created.text
    body = created.json()
    assert (body["visitor_id"], body["agent"]["agent_id"], body["agent"]["name"]) == (
        "vis_returning",
        agent.agent_id,
        "Helper",
    )
    expires = datetime.fromisoformat(body["expires_at"])
    assert timedelta(minutes=14) < expires - datetime.now(UTC) <= timedelta(minutes=15)
    assert created.headers["access-control-allow-origin"] == ORIGIN

    chat = await Chat.open(chat_stack, body["token"])
    ready = await chat.hello()
    assert (ready["last_seq"], ready["agent"]["name"]) == (0, "Helper")
    conversation = ready["conversation_id"]
    await chat.send("c1", "What does it cost?")
    ack = await chat.frame()
    assert {k: ack[k] for k in ("type", "seq", "role", "text", "status", "client_message_id")} == {
        "type": "message", "seq": 1, "role": "user", "text": "What does it cost?", "status": "complete",
        "client_message_id": "c1"}  # fmt: skip
    deltas, [reply] = await chat.reply(1)
    assert len(deltas) > 5 and "".join(deltas) == reply["text"]
    assert (
        reply["text"]
        == '[offline demo] No AI model is configured, so this is a canned reply to: "What does it cost?"'
    )
    assert (reply["seq"], reply["reply_to"], reply["status"], reply["model"]) == (
        2,
        1,
        "complete",
        "offline/demo-model",
    )

    # A tool round trip: the call, the tool's (failed) result, then the answer that reports it.
    await chat.send("c2", '!tool lookup {"id": 7}')
    assert (await chat.frame())["seq"] == 3
    _, [call, result, answer] = await chat.reply(3)
    assert (call["seq"], call["role"], call["text"], call["tool_calls"]) == (4, "assistant", "", ["lookup"])
    assert (result["seq"], result["role"], result["tool_name"], result["status"]) == (
        5,
        "tool",
        "lookup",
        "failed",
    )
    assert "the tool's address 127.0.0.1 is not public" in result["text"]
    assert answer["seq"] == 6 and answer["text"].startswith("[offline demo] The tool lookup answered:")
    await chat.ws.close()

    async with chat_stack.client(agent.api_key) as api:

        async def stored() -> list[dict[str, Any]] | None:
            found = (await api.get(f"/v1/conversations/{conversation}")).json()
            return found["messages"] if len(found.get("messages", [])) == 6 else None

        messages = await eventually(stored, what="six stored messages")
        assert [(m["seq"], m["role"], m["status"]) for m in messages] == [
            (1, "user", "complete"), (2, "assistant", "complete"), (3, "user", "complete"),
            (4, "assistant", "complete"), (5, "tool", "failed"), (6, "assistant", "complete")]  # fmt: skip
        assert messages[1]["output_tokens"] == len(words(reply["text"]))
        assert messages[1]["latency_ms"] >= messages[1]["first_token_ms"] >= 0
        expected = {}
        for m in (messages[1], messages[3], messages[5]):
            for direction in ("input", "output"):
                tokens = m[f"{direction}_tokens"]
                assert tokens > 0
                expected[f"{conversation}:{m['seq']}:{direction}"] = (
                    Decimal(tokens),
                    Decimal(tokens) * PRICE,
                )

        async def billed() -> dict[str, tuple[Decimal, Decimal]] | None:
            found = await charges(api, agent.customer)
            return (
                {c["event_id"]: (Decimal(c["quantity"]), Decimal(c["credits"])) for c in found}
                if len(found) >= 6
                else None
            )

        assert await eventually(billed, what="six token charges") == expected
        usage = [c for c in await charges(api, agent.customer) if c["type"] != "llm.tokens"]
        assert usage == []


async def converse(stack: Stack, agent_id: str, n: int) -> tuple[str, list[dict[str, Any]]]:
    """Three messages, each reply cut off after 1-3 deltas by closing the socket; every time the
    client reconnects with its last seq, resends the cut message's id, and goes on."""
    rng = random.Random(n)
    token = await token_for(stack, agent_id)
    chat = await Chat.open(stack, token)
    conversation = (await chat.hello())["conversation_id"]
    seen: list[dict[str, Any]] = []
    for i in range(3):
        cid = f"client{n}-message{i}"
        await chat.send(cid, f"{i}: {LONG}")
        ack = await chat.frame()
        assert (ack["type"], ack["client_message_id"], ack["seq"]) == ("message", cid, 2 * i + 1), ack
        cut = rng.randint(1, 3)
        for _ in range(cut):
            delta = await chat.frame()
            assert delta["type"] == "delta" and delta["reply_to"] == ack["seq"], delta
        seen += chat.messages
        last = chat.last_seq
        await chat.ws.close()

        chat = await Chat.open(stack, token)
        ready = await chat.hello(conversation_id=conversation, last_seq=last)
        assert ready["conversation_id"] == conversation and ready["last_seq"] == last + 1
        replayed = await chat.frame()
        assert (replayed["type"], replayed["reply_to"], replayed["status"]) == (
            "message",
            ack["seq"],
            "interrupted",
        )
        assert cut <= len(words(replayed["text"])) < len(words(LONG))
        # Resending the cut message changes nothing: the next frame answers the ping sent after it.
        await chat.send(cid, f"{i}: {LONG}")
        await chat.put({"type": "ping"})
        assert await chat.frame() == {"type": "pong"}
    seen += chat.messages
    await chat.ws.close()
    return conversation, seen


async def test_a_hundred_conversations_cut_mid_reply_see_every_message_once_in_order(
    chat_stack: Stack,
) -> None:
    agent = await make_agent(chat_stack, "cuts", credits="1000000")
    slots = asyncio.Semaphore(AT_ONCE)

    async def one(n: int) -> tuple[str, list[dict[str, Any]]]:
        async with slots:
            return await converse(chat_stack, agent.agent_id, n)

    results = await asyncio.gather(*(one(n) for n in range(CLIENTS)))
    for conversation, seen in results:
        assert [m["seq"] for m in seen] == [1, 2, 3, 4, 5, 6], conversation
        assert [m["role"] for m in seen] == ["user", "assistant"] * 3
        assert [m["status"] for m in seen] == ["complete", "interrupted"] * 3
        assert [m.get("reply_to") for m in seen] == [None, 1, None, 3, None, 5]

    assert chat_stack.pool is not None
    ids = [conversation for conversation, _ in results]

    async def projected() -> tuple[int, int] | None:
        rows = await chat_stack.pool.fetch(  # type: ignore[union-attr]
            "SELECT count(*) AS messages, count(client_message_id) AS sent, count(DISTINCT client_message_id) AS ids"
            " FROM chat_messages WHERE tenant_id = $1 AND conversation_id = ANY($2)",
            agent.tenant_id,
            ids,
        )
        row = rows[0]
        return (row["messages"], row["sent"]) if row["messages"] >= 6 * CLIENTS else None

    # Every visitor message stored once (resends were not processed again), each with its cut reply.
    assert await eventually(projected, what="600 stored messages") == (6 * CLIENTS, 3 * CLIENTS)
    statuses = await chat_stack.pool.fetch(
        "SELECT role, status, count(*) AS n FROM chat_messages WHERE tenant_id = $1 GROUP BY role, status"
        " ORDER BY role",
        agent.tenant_id,
    )
    assert [(r["role"], r["status"], r["n"]) for r in statuses] == [
        ("assistant", "interrupted", 3 * CLIENTS),
        ("user", "complete", 3 * CLIENTS),
    ]

    # A cut reply is still billed: what streamed before the cut, and the prompt the model read.
    async def billed() -> int | None:
        n = await chat_stack.pool.fetchval(  # type: ignore[union-attr]
            "SELECT count(*) FROM charges WHERE tenant_id = $1 AND type = 'llm.tokens' AND customer = $2"
            " AND quantity > 0",
            agent.tenant_id,
            agent.customer,
        )
        return n if n == 2 * 3 * CLIENTS else None

    assert await eventually(billed, what="input and output charges for every cut reply") == 6 * CLIENTS


async def test_without_credits_the_reply_is_unavailable_and_no_model_is_called(chat_stack: Stack) -> None:
    agent = await make_agent(chat_stack, "broke", credits=None)
    chat = await Chat.open(chat_stack, await token_for(chat_stack, agent.agent_id))
    conversation = (await chat.hello())["conversation_id"]
    await chat.send("c1", "Hello?")
    assert (await chat.frame())["seq"] == 1
    deltas, [reply] = await chat.reply(1)
    assert deltas == []
    assert (reply["seq"], reply["status"], reply["text"], reply.get("model")) == (
        2,
        "unavailable",
        UNAVAILABLE,
        None,
    )

    async with chat_stack.client(agent.api_key) as api:
        granted = await api.post(f"/v1/customers/{agent.customer}/grants", json={"amount": "100"})
        assert granted.status_code == 201, granted.text
        await chat.send("c2", "And now?")
        assert (await chat.frame())["seq"] == 3
        deltas, [reply] = await chat.reply(3)
        assert deltas and reply["status"] == "complete"

        async def billed() -> list[str] | None:
            found = await charges(api, agent.customer)
            return sorted(c["event_id"] for c in found) if len(found) >= 2 else None

        # Only the second turn's tokens: billing records of one customer are folded in order, so the
        # first turn's would have been charged before these.
        assert await eventually(billed, what="the second turn's charges") == [
            f"{conversation}:4:input",
            f"{conversation}:4:output",
        ]
    await chat.ws.close()


async def applied_everything(stack: Stack) -> None:
    """Wait until every record acknowledged so far is applied, with all it derives: each writer takes
    its record's outbox row in the transaction that adds what the record yields (usage from a reply,
    a dead letter from billing), so an outbox without such rows has nothing left in flight."""
    assert stack.outbox and stack.pool is not None

    async def drained() -> bool:
        return await outbox.pending(stack.pool) == 0  # type: ignore[arg-type]

    await eventually(drained, what="every acknowledged record applied")


async def billing_rows(stack: Stack, tenant_id: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for table in ("charges", "ledger_entries", "customers", "dead_letters"):
        counts[table] = await stack.pool.fetchval(  # type: ignore[union-attr]
            f"SELECT count(*) FROM {table} WHERE tenant_id = $1", tenant_id
        )
    return counts


async def test_an_agent_without_a_customer_answers_with_no_billing_set_up_and_bills_nothing(
    chat_stack: Stack,
) -> None:
    # A fresh tenant: no burn table, no customer, no grant.
    tenant = await chat_stack.create_tenant("unbilled")
    nothing = {"charges": 0, "ledger_entries": 0, "customers": 0, "dead_letters": 0}
    async with chat_stack.client(tenant["api_key"]) as api:
        body = {"name": "Helper", "model": "demo-model", "allowed_domains": ["shop.example.com"]}
        created = await api.post("/v1/agents", json=body)
        assert created.status_code == 201, created.text
        agent_id = created.json()["agent_id"]
        assert created.json()["customer"] is None
        assert (await api.get(f"/v1/agents/{agent_id}")).json()["customer"] is None

        chat = await Chat.open(chat_stack, await token_for(chat_stack, agent_id))
        conversation = (await chat.hello())["conversation_id"]
        await chat.send("c1", "Hello?")
        assert (await chat.frame())["seq"] == 1
        deltas, [reply] = await chat.reply(1)
        assert deltas and "".join(deltas) == reply["text"]
        assert (
            reply["text"]
            == '[offline demo] No AI model is configured, so this is a canned reply to: "Hello?"'
        )
        assert (reply["seq"], reply["status"], reply["model"]) == (2, "complete", "offline/demo-model")

        await applied_everything(chat_stack)
        stored = (await api.get(f"/v1/conversations/{conversation}")).json()["messages"]
        assert [(m["seq"], m["status"]) for m in stored] == [(1, "complete"), (2, "complete")]
        assert stored[1]["input_tokens"] > 0 and stored[1]["output_tokens"] > 0  # counted, not billed
        assert await billing_rows(chat_stack, tenant["tenant_id"]) == nothing

        # Setting a customer turns the credit check on (this one has no credits); clearing it, off.
        patched = await api.patch(f"/v1/agents/{agent_id}", json={"customer": "unbilled-customer"})
        assert (patched.status_code, patched.json()["customer"]) == (200, "unbilled-customer")
        await chat.send("c2", "And now?")
        assert (await chat.frame())["seq"] == 3
        deltas, [reply] = await chat.reply(3)
        assert (deltas, reply["status"], reply["text"]) == ([], "unavailable", UNAVAILABLE)

        patched = await api.patch(f"/v1/agents/{agent_id}", json={"customer": None})
        assert (patched.status_code, patched.json()["customer"]) == (200, None)
        await chat.send("c3", "Again?")
        assert (await chat.frame())["seq"] == 5
        deltas, [reply] = await chat.reply(5)
        assert deltas and (reply["seq"], reply["status"]) == (6, "complete")
        await chat.ws.close()

        await applied_everything(chat_stack)
        assert await billing_rows(chat_stack, tenant["tenant_id"]) == nothing


async def test_sessions_and_sockets_refuse_foreign_origins_expired_tokens_and_floods(
    chat_stack: Stack,
) -> None:
    agent = await make_agent(chat_stack, "guard", credits="1000")

    refused = await session(chat_stack, agent.agent_id, origin="https://evil.example")
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "origin_not_allowed"
    assert "https://evil.example" in refused.json()["error"]["message"]
    assert refused.headers["access-control-allow-origin"] == "https://evil.example"
    assert refused.headers["vary"] == "Origin"
    no_origin = await session(chat_stack, agent.agent_id, origin=None)
    assert (no_origin.status_code, no_origin.json()["error"]["code"]) == (403, "origin_required")
    unknown = await session(chat_stack, "agt_" + "0" * 32)
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (404, "agent_not_found")
    async with httpx.AsyncClient(base_url=chat_stack.url) as http:
        preflight = await http.options(
            "/v1/widget/sessions",
            headers={"Origin": ORIGIN, "Access-Control-Request-Method": "POST"},
        )
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == ORIGIN
    assert "POST" in preflight.headers["access-control-allow-methods"]

    token = await token_for(chat_stack, agent.agent_id)
    elsewhere = await Chat.open(chat_stack, token, origin="https://other.example.com")
    error, code = await elsewhere.refusal()
    assert (error["type"], error["code"], code) == ("error", "origin_not_allowed", 4403)

    secret = bytes.fromhex((chat_stack.home / "widget.secret").read_text())
    old = widget_tokens.issue(
        secret, agent.tenant_id, agent.agent_id, ORIGIN, "vis_1", datetime.now(UTC) - timedelta(hours=1)
    )
    error, code = await (await Chat.open(chat_stack, old)).refusal()
    assert (error["code"], code) == ("session_expired", 4401)
    error, code = await (await Chat.open(chat_stack, token[:-3] + "AAA")).refusal()
    assert (error["code"], code) == ("invalid_token", 4401)

    # Bad frames are answered, and the socket stays open.
    chat = await Chat.open(chat_stack, token)
    await chat.put({"type": "send", "client_message_id": "early", "text": "hi"})
    assert (await chat.frame())["code"] == "invalid_frame"  # no hello yet
    await chat.hello()
    await chat.ws.send("not json")
    assert (await chat.frame())["code"] == "invalid_frame"
    await chat.send("huge", "x" * 4001)
    assert (await chat.frame())["code"] == "message_too_long"

    # Five messages at once are a burst; a sixth within the minute is refused with a retry time.
    for i in range(6):
        await chat.send(f"flood{i}", f"{i}: {LONG}")
    frames: list[dict[str, Any]] = []
    while sum(f["type"] == "error" for f in frames) < 5 or not any(f["type"] == "message" for f in frames):
        found = await chat.frame()
        if found["type"] != "delta":  # the reply to flood0 may start streaming meanwhile
            frames.append(found)
    errors = [f for f in frames if f["type"] == "error"]  # the ack waits for the broker
    assert [f["code"] for f in errors] == ["busy"] * 4 + ["rate_limited"]
    assert 1 <= errors[-1]["retry_after"] <= 6
    assert [(f["seq"], f["client_message_id"]) for f in frames if f["type"] == "message"] == [(1, "flood0")]
    await chat.reply(1)
    await chat.ws.close()

    # The hosted chat page (on the gateway's own origin) may chat, whatever the allowlist; its framing
    # is restricted by its Content-Security-Policy instead.
    hosted = await session(chat_stack, agent.agent_id, origin=chat_stack.url)
    assert hosted.status_code == 201, hosted.text
    page = await Chat.open(chat_stack, hosted.json()["token"], origin=chat_stack.url)
    assert (await page.hello())["agent"]["agent_id"] == agent.agent_id
    await page.ws.close()

    # An origin removed from the allowlist cannot open a socket even with a token issued before.
    async with chat_stack.client(agent.api_key) as api:
        patched = await api.patch(
            f"/v1/agents/{agent.agent_id}", json={"allowed_domains": ["other.example.com"]}
        )
        assert patched.status_code == 200, patched.text
    error, code = await (await Chat.open(chat_stack, token)).refusal()
    assert (error["code"], code) == ("origin_not_allowed", 4403)


async def test_session_requests_allowed_and_refused_are_sighted_with_their_origin(chat_stack: Stack) -> None:
    agent = await make_agent(chat_stack, "sighted", credits=None)
    allowed = await session(chat_stack, agent.agent_id)
    assert allowed.status_code == 201, allowed.text
    refused = await session(chat_stack, agent.agent_id, origin="https://other.example.com")
    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "origin_not_allowed")
    # No Origin, or no such agent: nothing to sight.
    assert (await session(chat_stack, agent.agent_id, origin=None)).status_code == 403
    assert (await session(chat_stack, "agt_" + "0" * 32, origin="https://third.example")).status_code == 404

    async with chat_stack.client(agent.api_key) as api:

        async def sightings(expected: int) -> list[dict[str, Any]] | None:
            answer = await api.get(f"/v1/agents/{agent.agent_id}/sightings")
            assert answer.status_code == 200, answer.text
            found: list[dict[str, Any]] = answer.json()["sightings"]
            return found if len(found) >= expected else None

        seen = await eventually(lambda: sightings(2), timeout=15, what="both origins sighted")
        assert [
            (s["origin"], s["allowed"], s["in_allowlist"], s["sessions"], s["refused"]) for s in seen
        ] == [
            ("https://other.example.com", False, False, 1, 1),  # the most recently seen first
            (ORIGIN, True, True, 1, 0),
        ]
        for s in seen:
            assert s["first_seen"] == s["last_seen"]
            assert datetime.fromisoformat(s["last_seen"]) > datetime.now(UTC) - timedelta(minutes=1)

        # `in_allowlist` is the allowlist of now; `allowed` stays what the last request was told.
        patched = await api.patch(
            f"/v1/agents/{agent.agent_id}", json={"allowed_domains": ["other.example.com"]}
        )
        assert patched.status_code == 200, patched.text
        now = {s["origin"]: (s["allowed"], s["in_allowlist"]) for s in await sightings(2) or []}
        assert now == {"https://other.example.com": (False, True), ORIGIN: (True, False)}

    stranger = await chat_stack.create_tenant("sightseer")
    async with chat_stack.client(stranger["api_key"]) as api:
        for agent_id in (agent.agent_id, "agt_" + "0" * 32):
            answer = await api.get(f"/v1/agents/{agent_id}/sightings")
            assert (answer.status_code, answer.json()["error"]["code"]) == (404, "agent_not_found")
    assert chat_stack.pool is not None
    third = "SELECT count(*) FROM widget_sightings WHERE origin = 'https://third.example'"
    assert await chat_stack.pool.fetchval(third) == 0


async def test_the_hosted_page_behind_a_tls_proxy_gets_a_session_for_its_https_origin(
    chat_stack: Stack,
) -> None:
    # The hosted page is not on the allowlist: it is the gateway's own origin, as the proxy in front of
    # it (on 127.0.0.1, trusted by default) says it was reached: https, with the public host name.
    agent = await make_agent(chat_stack, "proxied", credits="10")
    public = {"Origin": "https://chat.example.org", "Host": "chat.example.org"}
    async with httpx.AsyncClient(base_url=chat_stack.url, timeout=30) as http:

        async def ask(headers: dict[str, str]) -> httpx.Response:
            return await http.post("/v1/widget/sessions", json={"agent_id": agent.agent_id}, headers=headers)

        behind_proxy = await ask({**public, "X-Forwarded-Proto": "https"})
        assert behind_proxy.status_code == 201, behind_proxy.text
        # Without the proxy's word the gateway was reached over http, so an https page is someone else's.
        direct = await ask(public)
        assert (direct.status_code, direct.json()["error"]["code"]) == (403, "origin_not_allowed")


async def test_two_gateways_take_turns_on_a_conversation_and_never_reuse_a_seq(chat_stack: Stack) -> None:
    agent = await make_agent(chat_stack, "twogw", credits="1000")
    port = free_port()
    other = chat_stack.spawn_gateway("gateway-2", {**GATEWAY_ENV, "REVOS_GATEWAY_PORT": str(port)})
    try:
        await chat_stack.wait_ready(url=f"http://127.0.0.1:{port}")
        token = await token_for(chat_stack, agent.agent_id)
        first = await Chat.open(chat_stack, token)
        conversation = (await first.hello())["conversation_id"]
        await first.send("c1", "one")
        assert (await first.frame())["seq"] == 1
        await first.reply(1)

        # A second tab, routed to the other gateway while the first one serves the conversation.
        tab = await Chat.open(chat_stack, token, port=port)
        await tab.put({"type": "hello", "conversation_id": conversation, "last_seq": 0})
        error, code = await tab.refusal()
        assert (error["code"], code) == ("conversation_elsewhere", 4409)

        # The first tab closes; its gateway lets the conversation go and the other one goes on with it.
        await first.ws.close()

        async def resumed() -> Chat | None:
            chat = await Chat.open(chat_stack, token, port=port)
            await chat.put({"type": "hello", "conversation_id": conversation, "last_seq": 0})
            ready = await chat.frame()
            if ready["type"] == "ready":
                return chat
            assert ready["code"] == "conversation_elsewhere", ready
            await chat.ws.close()
            return None

        moved: Chat = await eventually(resumed, timeout=30, every=0.2, what="the other gateway to take over")
        assert [(await moved.frame())["seq"] for _ in range(2)] == [1, 2]
        await moved.send("c2", "two")
        assert (await moved.frame())["seq"] == 3
        await moved.reply(3)
        await moved.ws.close()

        async with chat_stack.client(agent.api_key) as api:

            async def stored() -> list[tuple[int, str]] | None:
                messages = (await api.get(f"/v1/conversations/{conversation}")).json().get("messages", [])
                return [(m["seq"], m["role"]) for m in messages] if len(messages) == 4 else None

            assert await eventually(stored, what="all four messages") == [
                (1, "user"), (2, "assistant"), (3, "user"), (4, "assistant")
            ]  # fmt: skip
    finally:
        other.stop(10)


async def test_a_silent_peer_is_pinged_then_closed(chat_stack: Stack) -> None:
    agent = await make_agent(chat_stack, "quiet", credits="10")
    chat = await Chat.open(chat_stack, await token_for(chat_stack, agent.agent_id))
    await chat.hello()
    assert orjson.loads(await asyncio.wait_for(chat.ws.recv(), 3)) == {"type": "ping"}  # every second
    with pytest.raises(ConnectionClosed):
        while True:  # never answered: closed once nothing was heard for 8 s
            assert orjson.loads(await asyncio.wait_for(chat.ws.recv(), 6)) == {"type": "ping"}
    await chat.ws.close()
    assert chat.ws.close_code == 4408


async def test_another_tenant_can_neither_read_nor_resume_a_conversation(chat_stack: Stack) -> None:
    owner = await make_agent(chat_stack, "owner", credits="1000")
    other = await make_agent(chat_stack, "other", credits="1000")
    chat = await Chat.open(chat_stack, await token_for(chat_stack, owner.agent_id))
    conversation = (await chat.hello())["conversation_id"]
    await chat.send("c1", "private")
    assert (await chat.frame())["seq"] == 1
    await chat.reply(1)
    await chat.ws.close()

    async with chat_stack.client(owner.api_key) as api:

        async def stored() -> int | None:
            answer = await api.get(f"/v1/conversations/{conversation}")
            return answer.status_code if answer.status_code == 200 else None

        assert await eventually(stored, what="the conversation in the projection") == 200
    async with chat_stack.client(other.api_key) as api:
        answer = await api.get(f"/v1/conversations/{conversation}")
        assert (answer.status_code, answer.json()["error"]["code"]) == (404, "conversation_not_found")

    intruder = await Chat.open(chat_stack, await token_for(chat_stack, other.agent_id))
    await intruder.put({"type": "hello", "conversation_id": conversation, "last_seq": 0})
    refused = await intruder.frame()
    assert (refused["type"], refused["code"]) == ("error", "conversation_not_found")
    assert intruder.messages == []
    await intruder.ws.close()


@pytest.fixture
def nul_tool() -> Iterator[str]:
    """A tenant's tool on loopback whose every answer holds a NUL character: `ok\\x00ok`."""
    with loopback_tool(lambda headers, body: (200, b"ok\x00ok")) as url:
        yield url


async def test_a_nul_from_a_tool_or_a_model_is_dropped_and_the_turn_stored_and_billed(
    chat_stack: Stack, nul_tool: str
) -> None:
    tool = {"name": "nul", "description": "Answers with a NUL", "url": nul_tool, "secret": "s" * 20}
    agent = await make_agent(chat_stack, "nul", credits="1000", tools=[tool])
    port = free_port()
    env = {**GATEWAY_ENV, "REVOS_GATEWAY_PORT": str(port), "REVOS_TOOLS_ALLOW_PRIVATE": "true"}
    other = chat_stack.spawn_gateway("gateway-private-tools", env)
    try:
        await chat_stack.wait_ready(url=f"http://127.0.0.1:{port}")
        chat = await Chat.open(chat_stack, await token_for(chat_stack, agent.agent_id), port=port)
        conversation = (await chat.hello())["conversation_id"]
        await chat.send("c1", "!tool nul {}")
        assert (await chat.frame())["seq"] == 1
        # The offline model repeats the tool's answer, so its reply would hold the NUL too.
        _, [call, result, answer] = await chat.reply(1)
        assert call["tool_calls"] == ["nul"]
        await chat.ws.close()
        assert (result["role"], result["text"], result["status"]) == ("tool", "okok", "complete")
        assert answer["text"] == "[offline demo] The tool nul answered: okok"

        async with chat_stack.client(agent.api_key) as api:

            async def stored() -> list[dict[str, Any]] | None:
                found = (await api.get(f"/v1/conversations/{conversation}")).json()
                return found["messages"] if len(found.get("messages", [])) == 4 else None

            messages = await eventually(stored, what="the turn's four messages stored")
            assert [(m["role"], m["content"]) for m in messages[2:]] == [
                ("tool", "okok"),
                ("assistant", "[offline demo] The tool nul answered: okok"),
            ]

            async def billed() -> list[str] | None:
                found = sorted(c["event_id"] for c in await charges(api, agent.customer))
                return found if len(found) == 4 else None

            assert await eventually(billed, what="both model calls billed") == [
                f"{conversation}:{seq}:{direction}" for seq in (2, 4) for direction in ("input", "output")
            ]
    finally:
        other.stop(10)


async def test_a_draining_gateway_refuses_writes_and_new_sockets_and_still_answers_reads(
    chat_stack: Stack,
) -> None:
    """What the launcher's Ctrl-C asks of a gateway (SIGUSR1) before the workers drain."""
    agent = await make_agent(chat_stack, "drain", credits="10")
    token = await token_for(chat_stack, agent.agent_id)
    port = free_port()
    gateway = chat_stack.spawn_gateway("draining-gateway", {**GATEWAY_ENV, "REVOS_GATEWAY_PORT": str(port)})
    try:
        url = f"http://127.0.0.1:{port}"
        await chat_stack.wait_ready(url=url)
        os.kill(gateway.pid, signal.SIGUSR1)
        headers = {"Authorization": f"Bearer {agent.api_key}"}
        async with httpx.AsyncClient(base_url=url, headers=headers, timeout=30) as api:
            refused = await api.post("/v1/customers/nobody/grants", json={"amount": "1", "id": "drained"})
            assert refused.status_code == 503, refused.text
            assert refused.json()["error"]["code"] == "draining"
            assert refused.headers["retry-after"] == "5"
            assert (await api.get(f"/v1/customers/{agent.customer}/balance")).status_code == 200
        chat = await Chat.open(chat_stack, token, port=port)
        frame = orjson.loads(await asyncio.wait_for(chat.ws.recv(), 10))
        assert (frame["type"], frame["code"]) == ("error", "draining")
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(chat.ws.recv(), 10)
        assert chat.ws.close_code == 1013  # try again later: the widget reconnects with backoff
    finally:
        gateway.stop(10)


TOOL_SECRET = "whsec_kept-encrypted-0123456789"


@pytest.fixture
def signed_tool() -> Iterator[str]:
    """A tenant's tool on loopback that answers `verified` only to a request signed with TOOL_SECRET."""

    def answer(headers: Message, body: bytes) -> tuple[int, bytes]:
        ok = tool_signing.verify(
            TOOL_SECRET, headers["X-Revos-Timestamp"], body, headers["X-Revos-Signature"],
            delivery=headers["X-Revos-Delivery"], now=time.time(),
        )  # fmt: skip
        return (200, b"verified") if ok else (401, b"bad signature")

    with loopback_tool(answer) as url:
        yield url


async def test_a_tool_secret_is_stored_encrypted_and_still_signs_the_calls(
    chat_stack: Stack, signed_tool: str
) -> None:
    tool = {
        "name": "signed",
        "description": "Checks its signature",
        "url": signed_tool,
        "secret": TOOL_SECRET,
    }
    agent = await make_agent(chat_stack, "sealed", credits="1000", tools=[tool])
    assert chat_stack.pool is not None
    for table, column in (("assistants", "tools"), ("audit_log", "after_text")):
        found = await chat_stack.pool.fetchval(
            f"SELECT count(*) FROM {table} WHERE position($1 in {column}::text) > 0", TOOL_SECRET
        )
        assert found == 0, f"the tool secret is readable in {table}.{column}"
    async with chat_stack.client(agent.api_key) as api:
        shown = (await api.get(f"/v1/agents/{agent.agent_id}")).text
        # A PATCH naming the tool without its secret keeps it (decrypted, then sealed again).
        kept = {k: v for k, v in tool.items() if k != "secret"}
        patched = await api.patch(f"/v1/agents/{agent.agent_id}", json={"tools": [kept], "name": "Again"})
        assert patched.status_code == 200, patched.text
    assert TOOL_SECRET not in shown and TOOL_SECRET not in patched.text

    port = free_port()
    env = {**GATEWAY_ENV, "REVOS_GATEWAY_PORT": str(port), "REVOS_TOOLS_ALLOW_PRIVATE": "true"}
    other = chat_stack.spawn_gateway("gateway-signed-tools", env)
    try:
        await chat_stack.wait_ready(url=f"http://127.0.0.1:{port}")
        chat = await Chat.open(chat_stack, await token_for(chat_stack, agent.agent_id), port=port)
        await chat.hello()
        await chat.send("c1", "!tool signed {}")
        assert (await chat.frame())["seq"] == 1
        _, [_call, result, _answer] = await chat.reply(1)
        await chat.ws.close()
        assert (result["role"], result["text"], result["status"]) == ("tool", "verified", "complete")
    finally:
        other.stop(10)
    logs = "".join(p.read_text(errors="replace") for p in (chat_stack.home / "logs").glob("*.log"))
    assert TOOL_SECRET not in logs
