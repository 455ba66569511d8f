"""Shared by the voice end-to-end tests: a tenant with a Twilio account and an agent on a phone line,
and waiting for what the calls and chat projections show about a call."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx
from e2e_stack import Stack, eventually
from twilio_simulator import TwilioSimulator, new_sid

TOKEN_PRICE = Decimal("0.01")  # credits per llm token
MINUTE_PRICE = Decimal("2")  # credits per voice minute
CANNED = '[offline demo] No AI model is configured, so this is a canned reply to: "{}"'


def canned(text: str) -> str:
    """What the offline model answers to `text`."""
    return CANNED.format(text)


def phone_number() -> str:
    """A fresh E.164 number (a number belongs to one agent of all tenants)."""
    return "+1415" + "".join(secrets.choice("0123456789") for _ in range(7))


@dataclass
class Line:
    """A tenant with a Twilio account, a billing customer, and an agent on `number`."""

    api_key: str
    tenant_id: str
    agent_id: str
    customer: str
    number: str
    twilio: TwilioSimulator
    agent: dict[str, Any]

    def api(self, stack: Stack) -> httpx.AsyncClient:
        return stack.client(self.api_key)


async def twilio_tenant(stack: Stack, name: str) -> tuple[dict[str, Any], TwilioSimulator]:
    """A tenant whose Twilio account is set, and Twilio playing that account."""
    tenant = await stack.create_tenant(name)
    account_sid, auth_token = new_sid("AC"), secrets.token_hex(16)
    async with stack.client(tenant["api_key"]) as api:
        answer = await api.put(
            "/v1/voice/twilio", json={"account_sid": account_sid, "auth_token": auth_token}
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["status"] == "applied"
    return tenant, TwilioSimulator(stack.url, account_sid, auth_token)


async def add_agent(
    stack: Stack,
    tenant: dict[str, Any],
    twilio: TwilioSimulator,
    *,
    customer: str,
    model: str = "demo-model",
    **voice: Any,
) -> Line:
    """An agent of `tenant` billed to `customer`, on a new phone number with the `voice` settings."""
    number = phone_number()
    body = {"name": "Receptionist", "customer": customer, "model": model, "system_prompt": "Be brief.",
            "voice": {"phone_number": number, **voice}}  # fmt: skip
    async with stack.client(tenant["api_key"]) as api:
        created = await api.post("/v1/agents", json=body)
    assert created.status_code == 201, created.text
    agent = created.json()
    return Line(tenant["api_key"], tenant["tenant_id"], agent["agent_id"], customer, number, twilio, agent)


async def voice_line(
    stack: Stack, name: str, *, credits: str | None = "1000", model: str = "demo-model", **voice: Any
) -> Line:
    """A tenant with a Twilio account, a burn table pricing `llm.tokens` and `voice.minutes`, a customer
    holding `credits` (none when None), and an agent on a phone line billed to that customer."""
    tenant, twilio = await twilio_tenant(stack, name)
    customer = f"{name}-customer"
    async with stack.client(tenant["api_key"]) as api:
        table = {"rules": [{"type": "llm.tokens", "credits_per_unit": str(TOKEN_PRICE)},
                           {"type": "voice.minutes", "credits_per_unit": str(MINUTE_PRICE)}]}  # fmt: skip
        assert (await api.put("/v1/burn-tables/default", json=table)).status_code == 200
        if credits is not None:
            granted = await api.post(f"/v1/customers/{customer}/grants", json={"amount": credits})
            assert granted.status_code == 201, granted.text
    return await add_agent(stack, tenant, twilio, customer=customer, model=model, **voice)


async def conversation_of(api: httpx.AsyncClient, agent_id: str, call_sid: str) -> dict[str, Any]:
    """The chat conversation of a call (visitor `call:<CallSid>`), once the chat projection has it."""

    async def found() -> str | None:
        page = await api.get("/v1/conversations", params={"agent_id": agent_id, "limit": 500})
        assert page.status_code == 200, page.text
        for c in page.json()["conversations"]:
            if c.get("visitor_id") == f"call:{call_sid}":
                return str(c["conversation_id"])
        return None

    conversation_id = await eventually(found, what=f"the conversation of call {call_sid}")
    answer = await api.get(f"/v1/conversations/{conversation_id}")
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


async def messages_of(
    api: httpx.AsyncClient, agent_id: str, call_sid: str, count: int
) -> list[dict[str, Any]]:
    """The call's chat messages, once the projection holds `count` of them (never more)."""
    conversation_id = (await conversation_of(api, agent_id, call_sid))["conversation_id"]

    async def stored() -> list[dict[str, Any]] | None:
        messages: list[dict[str, Any]] = (await api.get(f"/v1/conversations/{conversation_id}")).json()[
            "messages"
        ]
        assert len(messages) <= count, messages
        return messages if len(messages) == count else None

    found: list[dict[str, Any]] = await eventually(stored, what=f"{count} messages of call {call_sid}")
    return found


async def call_when(api: httpx.AsyncClient, call_sid: str, what: str, **expected: Any) -> dict[str, Any]:
    """GET /v1/calls/{call_sid} once the call shows every `expected` field value."""

    async def shown() -> dict[str, Any] | None:
        answer = await api.get(f"/v1/calls/{call_sid}")
        if answer.status_code == 404:
            return None
        assert answer.status_code == 200, answer.text
        call: dict[str, Any] = answer.json()
        return call if all(call.get(k) == v for k, v in expected.items()) else None

    found: dict[str, Any] = await eventually(shown, what=f"call {call_sid}: {what}")
    return found
