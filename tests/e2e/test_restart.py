"""Restarting the embedded broker: the log starts empty, the projections carry on."""

from __future__ import annotations

from decimal import Decimal

from e2e_stack import Stack, eventually

from infra.broker import EmbeddedBroker
from pipeline.bootstrap import prepare


async def test_balances_survive_a_broker_restart_and_new_usage_is_charged(stack: Stack) -> None:
    tenant = await stack.create_tenant()
    async with stack.client(tenant["api_key"]) as api:
        await api.put("/v1/burn-tables/default", json={"rules": [{"type": "t", "credits_per_unit": "2"}]})
        await api.post("/v1/customers/c/grants", json={"amount": "100", "id": "g"})
        await api.post("/v1/events", json={"events": [{"id": "before", "customer": "c", "type": "t"}]})

        async def charged(expected: str) -> bool:
            return (await api.get("/v1/customers/c/balance")).json()["balance"] == expected

        await eventually(lambda: charged("98"), what="the first charge")

        # The broker keeps nothing across a restart: the same port, an empty log.
        assert stack.broker is not None
        stack.broker.stop()
        stack.broker = EmbeddedBroker(
            stack.home / "broker2", int(stack.settings.bootstrap_servers.rsplit(":", 1)[1])
        )
        (stack.home / "broker2").mkdir()
        stack.broker.start()
        await prepare(stack.settings)  # what `revos run` does on every start
        stack.kill_worker(0)
        stack.start_worker(0)

        # Offsets of the old log are forgotten, so the new log's first records are not skipped.
        async def accepted() -> bool:
            r = await api.post("/v1/events", json={"events": [{"id": "after", "customer": "c", "type": "t"}]})
            return r.status_code == 200

        await eventually(accepted, what="the gateway to reach the new broker")
        await eventually(lambda: charged("96"), timeout=60, what="the charge after the restart")
        charges = (await api.get("/v1/customers/c/charges")).json()["charges"]
        assert [(c["event_id"], Decimal(c["credits"])) for c in charges] == [("after", 2), ("before", 2)]
