"""Usage with event times spread over past days, sent through the API and waited for until charged."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg
import httpx
from e2e_stack import eventually


async def send_charged(
    api: httpx.AsyncClient, pool: asyncpg.Pool, tenant_id: str, events: list[dict[str, Any]]
) -> None:
    """Send `events` (1000 a request) and wait until the worker charged every one."""
    for i in range(0, len(events), 1000):
        sent = await api.post("/v1/events", json={"events": events[i : i + 1000]})
        assert sent.status_code == 200 and sent.json()["rejected"] == 0, sent.text[:500]
    ids = [e["id"] for e in events]

    async def charged() -> bool:
        count = await pool.fetchval(
            "SELECT count(*) FROM charges WHERE tenant_id = $1 AND event_id = ANY($2::text[])", tenant_id, ids
        )
        return bool(count == len(ids))

    await eventually(charged, timeout=120, what=f"{len(ids)} events charged")


async def void(api: httpx.AsyncClient, event_id: str) -> None:
    voided = await api.post(f"/v1/events/{event_id}/void", json={"reason": "test"})
    assert voided.status_code == 200 and voided.json()["charge"]["status"] == "voided", voided.text


def event(
    event_id: str, customer: str, type_: str, quantity: str, at: datetime, **properties: Any
) -> dict[str, Any]:
    return {
        "id": event_id,
        "customer": customer,
        "type": type_,
        "quantity": quantity,
        "timestamp": at.isoformat(),
        "properties": properties,
    }
