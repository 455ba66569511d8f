"""Restarting the embedded broker: the log starts empty, the projections carry on."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

from e2e_stack import Stack, eventually, start_stack

from infra.bootstrap import prepare
from infra.broker import EmbeddedBroker


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


async def test_a_broker_restarting_empty_under_a_running_worker_is_noticed_and_loses_nothing(
    service_root: Path, database: str
) -> None:
    """Nobody runs `prepare` here: the worker itself notices the new log, says so, and recovers. Eight
    partitions, where the broker makes four for a topic it creates on first use: the worker remakes them."""
    stack = await start_stack(service_root, database, partitions=8)
    try:
        await _restart_under_a_running_worker(stack)
    finally:
        await stack.stop()


async def _restart_under_a_running_worker(stack: Stack) -> None:
    tenant = await stack.create_tenant()
    customers = [f"c{i}" for i in range(20)]
    async with stack.client(tenant["api_key"]) as api:
        await api.put("/v1/burn-tables/default", json={"rules": [{"type": "t", "credits_per_unit": "1"}]})
        for c in customers:
            assert (
                await api.post(f"/v1/customers/{c}/grants", json={"amount": "1000", "id": "g"})
            ).status_code == 201

        async def send(first: int) -> None:
            for start in range(first, first + 5_000, 1_000):
                events = [
                    {"id": f"e{n}", "customer": customers[n % 20], "type": "t"}
                    for n in range(start, start + 1_000)
                ]
                response = await api.post("/v1/events", json={"events": events})
                assert response.status_code == 200, response.text

        await send(0)
        assert stack.broker is not None and stack.pool is not None
        port = int(stack.settings.bootstrap_servers.rsplit(":", 1)[1])
        stack.broker.stop()  # with most of those events not yet applied
        await send(5_000)  # acknowledged while there is no broker at all: PostgreSQL keeps them
        (stack.home / "broker2").mkdir()
        stack.broker = EmbeddedBroker(stack.home / "broker2", port)
        stack.broker.start()

        async def charged() -> int:
            count: int = await stack.pool.fetchval(  # type: ignore[union-attr]
                "SELECT count(*) FROM charges WHERE tenant_id = $1", tenant["tenant_id"]
            )
            return count

        await eventually(lambda: _equals(charged(), 10_000), timeout=120, every=0.5, what="10,000 charges")
        for c in customers:
            balance = (await api.get(f"/v1/customers/{c}/balance")).json()["balance"]
            assert Decimal(balance) == 1000 - 500
        loss = await stack.pool.fetchrow("SELECT * FROM broker_log_losses ORDER BY id DESC LIMIT 1")
        assert loss is not None and loss["forgotten_offsets"] > 0
        assert "the broker's log is new" in stack.workers[0].log_tail(500)
        # Also where an operator looks: the gateway's metrics and `revos infra status`.
        metrics = (await api.get("/metrics")).text
        assert "revos_broker_log_losses 1.0" in metrics
        assert "revos_outbox_unapplied_records 0.0" in metrics
        status = stack.cli("infra", "status")
        assert status.returncode == 0, status.stderr
        delivery = json.loads(status.stdout)["delivery"]
        assert (delivery["outbox"], delivery["unapplied"], delivery["broker_log_losses"]) == (True, 0, 1)


async def _equals(value: object, expected: int) -> bool:
    return await value == expected  # type: ignore[misc]
