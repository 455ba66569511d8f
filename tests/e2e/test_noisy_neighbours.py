"""One tenant's burst of requests must not stop the gateway for anyone else."""

from __future__ import annotations

import asyncio

from e2e_stack import Stack

TABLE = {"rules": [{"type": "t", "credits_per_unit": "1"}]}


async def test_a_burst_of_burn_table_publishes_leaves_the_gateway_answering_others(stack: Stack) -> None:
    tenant = await stack.create_tenant()
    other = await stack.create_tenant("globex")
    async with stack.client(tenant["api_key"]) as api, stack.client(other["api_key"]) as bystander:
        # More concurrent publishes of one table than the gateway has pooled connections.
        burst = [asyncio.create_task(api.put("/v1/burn-tables/t", json=TABLE)) for _ in range(30)]
        await asyncio.sleep(0)  # let the burst's requests start before the bystander's
        async with asyncio.timeout(15):
            ready = await bystander.get("/readyz")
            balance = await bystander.get("/v1/customers/someone/balance")
        assert ready.status_code == 200, ready.text
        assert balance.status_code == 404 and balance.json()["error"]["code"] == "customer_not_found"
        async with asyncio.timeout(60):
            answers = await asyncio.gather(*burst)

    published = sorted(a.json()["version"] for a in answers if a.status_code in (200, 202))
    assert published == list(range(1, len(published) + 1)), "versions must be distinct and consecutive"
    for busy in (a for a in answers if a.status_code not in (200, 202)):
        assert busy.status_code == 503, busy.text
        assert busy.json()["error"]["code"] in {"burn_table_busy", "database_busy"}
        assert busy.headers["Retry-After"]
