"""Holds end to end: 50 concurrent check-then-track clients cannot overspend a small balance when
their checks reserve credits; a released or expired hold frees its credits."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import httpx
from e2e_stack import Stack, eventually

CLIENTS = 50
BALANCE = 20


async def setup(api: httpx.AsyncClient, customer: str, amount: int) -> None:
    table = {"rules": [{"type": "t", "credits_per_unit": "1"}]}
    assert (await api.put("/v1/burn-tables/default", json=table)).status_code == 200
    granted = await api.post(f"/v1/customers/{customer}/grants", json={"amount": str(amount)})
    assert granted.status_code == 201, granted.text


async def check(api: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    answer = await api.post("/v1/check", json=body)
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json()
    return found


async def balance(api: httpx.AsyncClient, customer: str) -> Decimal:
    return Decimal((await api.get(f"/v1/customers/{customer}/balance")).json()["balance"])


async def test_fifty_concurrent_spenders_with_holds_end_exactly_at_zero(stack: Stack) -> None:
    tenant = await stack.create_tenant()
    async with stack.client(tenant["api_key"]) as api:
        await setup(api, "small", BALANCE)

        async def spender(n: int) -> bool:
            event_id = f"spend{n}"
            answer = await check(api, customer="small", credits="1", hold={"event_id": event_id})
            if not answer["allowed"]:
                assert answer["reason"] == "insufficient_credits", answer
                return False
            assert answer["hold"]["event_id"] == event_id
            sent = await api.post(
                "/v1/events", json={"events": [{"id": event_id, "customer": "small", "type": "t"}]}
            )
            assert sent.json()["accepted"] == 1
            return True

        allowed = await asyncio.gather(*(spender(n) for n in range(CLIENTS)))
        assert sum(allowed) == BALANCE  # exactly what the balance covers, though all 50 asked at once

        async def settled() -> tuple[Decimal] | None:
            charged = (await api.get("/v1/customers/small/charges", params={"limit": 500})).json()["charges"]
            return (await balance(api, "small"),) if len(charged) == BALANCE else None

        assert await eventually(settled, what=f"{BALANCE} charges") == (0,)  # no overspend at all
        after = await check(api, customer="small", credits="1")
        assert after["on_hold"] == "0"  # every hold was consumed by its event
        assert (after["allowed"], after["reason"]) == (False, "insufficient_credits")


async def test_a_released_or_expired_hold_frees_its_credits(stack: Stack) -> None:
    tenant = await stack.create_tenant()
    other = await stack.create_tenant("other")
    async with stack.client(tenant["api_key"]) as api:
        await setup(api, "c", 3)
        kept = await check(api, customer="c", credits="2", hold={"ttl_seconds": 600})
        assert kept["allowed"] is True
        brief = await check(api, customer="c", credits="1", hold={"ttl_seconds": 1})
        assert brief["allowed"] is True
        full = await check(api, customer="c", credits="1", hold={})
        assert (full["allowed"], full["reason"]) == (False, "insufficient_credits")
        assert (await check(api, customer="c", credits="1"))["on_hold"] == "3"

        async def freed() -> dict[str, Any] | None:
            answer = await check(api, customer="c", credits="1", hold={})
            return answer if answer["allowed"] else None

        again = await eventually(
            freed, timeout=10, what="the 1-second hold to expire"
        )  # then one credit is free
        hold_id = kept["hold"]["hold_id"]
        async with stack.client(other["api_key"]) as foreign:
            assert (await foreign.delete(f"/v1/holds/{hold_id}")).status_code == 404
        released = await api.delete(f"/v1/holds/{hold_id}")
        assert released.status_code == 200 and released.json()["status"] == "released"
        assert (await api.delete(f"/v1/holds/{hold_id}")).json()["status"] == "released"  # again: no change
        assert (await api.delete(f"/v1/holds/{again['hold']['hold_id']}")).json()["status"] == "released"
        assert (await check(api, customer="c", credits="3"))["allowed"] is True
        assert (await api.delete("/v1/holds/hld_unknown")).status_code == 404
        bad = await api.post("/v1/check", json={"customer": "c", "hold": {}})
        assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_hold"
