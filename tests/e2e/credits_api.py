"""Driving a customer's credits through the API in end-to-end tests: charging, balances, the ledger."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx
from e2e_stack import eventually


async def charge(
    api: httpx.AsyncClient, customer: str, *quantities: int | str, prefix: str = "e"
) -> list[str]:
    """Send one `t` event per quantity (ids prefix1, prefix2, ...) and wait until all are charged."""
    events = [
        {"id": f"{prefix}{i}", "customer": customer, "type": "t", "quantity": q}
        for i, q in enumerate(quantities, start=1)
    ]
    sent = await api.post("/v1/events", json={"events": events})
    assert sent.status_code == 200 and sent.json()["accepted"] == len(events), sent.text
    ids = [e["id"] for e in events]

    async def charged() -> bool:
        rows = (await api.get(f"/v1/customers/{customer}/charges", params={"limit": 500})).json()["charges"]
        return set(ids) <= {r["event_id"] for r in rows}

    await eventually(charged, what=f"charges {ids}")
    return ids


async def balance(api: httpx.AsyncClient, customer: str) -> dict[str, Any]:
    answer = await api.get(f"/v1/customers/{customer}/balance")
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


async def remaining(api: httpx.AsyncClient, customer: str) -> dict[str, Decimal]:
    """Each grant's unspent credits, by grant id."""
    return {g["grant_id"]: Decimal(g["remaining"]) for g in (await balance(api, customer))["grants"]}


async def ledger(api: httpx.AsyncClient, customer: str, *, limit: int = 500) -> list[dict[str, Any]]:
    """Every ledger entry of the customer, following `next_cursor` page by page."""
    entries: list[dict[str, Any]] = []
    params: dict[str, Any] = {"limit": limit}
    while True:
        page = await api.get(f"/v1/customers/{customer}/ledger", params=params)
        assert page.status_code == 200, page.text
        body = page.json()
        assert len(body["entries"]) <= limit
        entries.extend(body["entries"])
        if body["next_cursor"] is None:
            return entries
        params = {"limit": limit, "cursor": body["next_cursor"]}


async def ledger_with(api: httpx.AsyncClient, customer: str, count: int) -> list[dict[str, Any]]:
    """The ledger once it holds `count` entries (the projection may still be applying the last ones)."""

    async def grown() -> list[dict[str, Any]] | None:
        entries = await ledger(api, customer)
        assert len(entries) <= count, entries
        return entries if len(entries) == count else None

    found: list[dict[str, Any]] = await eventually(grown, what=f"{count} ledger entries of {customer}")
    return found


async def audited(api: httpx.AsyncClient, action: str, count: int) -> list[dict[str, Any]]:
    """The tenant's audit entries of `action`, once there are `count` of them."""

    async def found() -> list[dict[str, Any]] | None:
        entries: list[dict[str, Any]] = (await api.get("/v1/audit", params={"action": action})).json()[
            "entries"
        ]
        return entries if len(entries) == count else None

    entries: list[dict[str, Any]] = await eventually(found, what=f"{count} {action} audit entries")
    return entries
