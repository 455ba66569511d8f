"""Delivery guarantees end to end: nothing lost, nothing doubled, dead letters for the rest, replayable."""

from __future__ import annotations

import asyncio
import os
import random
import subprocess
from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
from e2e_stack import Stack, create_database, eventually, send_all, start_stack

from infra.ports import free_port
from infra.postgres import EmbeddedPostgres

TABLE = {
    "rules": [
        {"type": "llm.tokens", "match": {"model": "gpt-4o"}, "credits_per_unit": "0.002"},
        {"type": "llm.tokens", "credits_per_unit": "0.001"},
        {"type": "report.completed", "credits_per_unit": "50"},
    ]
}
GRANT = Decimal(1_000_000)


def price(event: dict[str, Any]) -> Decimal | None:
    quantity = Decimal(str(event.get("quantity", 1)))
    if event["type"] == "llm.tokens":
        per_unit = "0.002" if event.get("properties", {}).get("model") == "gpt-4o" else "0.001"
        return quantity * Decimal(per_unit)
    if event["type"] == "report.completed":
        return quantity * 50
    return None


def workload(n: int, customers: list[str], seed: int, prefix: str = "e") -> list[dict[str, Any]]:
    rng = random.Random(seed)
    events = []
    for i in range(n):
        kind = rng.random()
        event: dict[str, Any] = {"id": f"{prefix}{i}", "customer": rng.choice(customers)}
        if kind < 0.9:
            event.update(
                type="llm.tokens",
                quantity=rng.choice([rng.randint(1, 5000), f"{rng.randint(1, 999)}.25"]),
                properties={"model": rng.choice(["gpt-4o", "mini"])},
            )
        else:
            event.update(type="report.completed")
        events.append(event)
    return events


def expected_balances(events: list[dict[str, Any]], customers: list[str]) -> dict[str, Decimal]:
    spent: dict[str, Decimal] = defaultdict(Decimal)
    seen = set()
    for e in events:
        credits = price(e)
        if credits is None or e["id"] in seen:
            continue
        seen.add(e["id"])
        spent[e["customer"]] += credits
    return {c: GRANT - spent[c] for c in customers}


async def setup_tenant(
    stack: Stack, customers: list[str], tenant: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A tenant (new, unless given) with the test's burn table and a grant for each customer."""
    tenant = tenant or await stack.create_tenant()
    async with stack.client(tenant["api_key"]) as api:
        assert (await api.put("/v1/burn-tables/default", json=TABLE)).status_code == 200
        for c in customers:
            assert (
                await api.post(f"/v1/customers/{c}/grants", json={"amount": str(GRANT), "id": f"g-{c}"})
            ).status_code == 201
    return tenant


async def wait_for_charges(pool: asyncpg.Pool, tenant_id: str, count: int, timeout: float = 120) -> None:
    async def done() -> bool:
        return await pool.fetchval("SELECT count(*) FROM charges WHERE tenant_id = $1", tenant_id) == count

    try:
        await eventually(done, timeout=timeout, every=0.2, what=f"{count} charges")
    except AssertionError as exc:
        charged = await pool.fetchval("SELECT count(*) FROM charges WHERE tenant_id = $1", tenant_id)
        dead = await pool.fetch(
            "SELECT code, stage, left(message, 300) AS message FROM dead_letters "
            "WHERE tenant_id = $1 OR tenant_id IS NULL LIMIT 5",
            tenant_id,
        )
        raise AssertionError(f"{exc}: {charged} charged; dead letters: {[dict(d) for d in dead]}") from None


async def balances(stack: Stack, api_key: str, customers: list[str]) -> dict[str, Decimal]:
    async with stack.client(api_key) as api:
        return {
            c: Decimal((await api.get(f"/v1/customers/{c}/balance")).json()["balance"]) for c in customers
        }


SNAPSHOT = {
    "charges": "SELECT tenant_id, event_id, customer, type, quantity, credits, cost, burn_table, burn_table_version, "
    "event_time, received_at, allocations::text FROM charges ORDER BY tenant_id, event_id",
    "grants": "SELECT tenant_id, customer, grant_id, amount, remaining, priority, effective_at, expires_at, reason, "
    "granted_at, granted_by, event_id, status FROM grants ORDER BY tenant_id, customer, grant_id",
    "customers": "SELECT tenant_id, customer, debt, ledger_seq, ledger_balance FROM customers ORDER BY tenant_id, customer",
    "ledger": "SELECT tenant_id, customer, seq, kind, amount, balance, reference, at, detail::text FROM ledger_entries "
    "ORDER BY tenant_id, customer, seq",
    "burn_tables": "SELECT * FROM burn_table_versions ORDER BY tenant_id, name, version",
}


async def snapshot(pool: asyncpg.Pool) -> dict[str, list[tuple[Any, ...]]]:
    return {name: [tuple(r) for r in await pool.fetch(sql)] for name, sql in SNAPSHOT.items()}


async def test_ten_thousand_events_with_duplicates_invalid_and_unpriced(
    stack: Stack, postgres: Any, service_root: Path
) -> None:
    customers = [f"cust_{i}" for i in range(20)]
    tenant = await setup_tenant(stack, customers)
    valid = workload(8_800, customers, seed=1)
    duplicates = random.Random(2).sample(valid, 1_000)  # 10% resent, in later batches
    invalid = [
        {"id": f"bad{i}", "customer": "cust_0", "type": "llm.tokens", "quantity": "-1"} for i in range(100)
    ]
    unpriced = [{"id": f"un{i}", "customer": "cust_1", "type": "video.minutes"} for i in range(100)]
    events = valid + invalid + unpriced + duplicates
    random.Random(3).shuffle(events)
    assert len(events) == 10_000

    async with stack.client(tenant["api_key"]) as api:
        totals = await send_all(api, events)
    assert totals == {"accepted": 9_900, "rejected": 100}

    assert stack.pool is not None
    await wait_for_charges(stack.pool, tenant["tenant_id"], len(valid))
    assert await balances(stack, tenant["api_key"], customers) == expected_balances(valid, customers)

    async def dead_letters() -> dict[str, int] | None:
        rows = await stack.pool.fetch(  # type: ignore[union-attr]
            "SELECT code, count(DISTINCT event_id) AS n FROM dead_letters WHERE tenant_id = $1 GROUP BY code",
            tenant["tenant_id"],
        )
        found = {r["code"]: r["n"] for r in rows}
        return found if found == {"negative_decimal": 100, "unpriced": 100} else None

    await eventually(dead_letters, what="every invalid and unpriced event dead-lettered")

    # Rebuilding the projections from the log into an empty database gives identical results.
    rebuilt_dsn = await create_database(postgres.dsn)
    rebuilt = await start_stack(
        service_root, rebuilt_dsn, broker=stack.settings.bootstrap_servers, gateway=False
    )
    try:
        assert rebuilt.pool is not None
        await wait_for_charges(rebuilt.pool, tenant["tenant_id"], len(valid))
        original = await snapshot(stack.pool)

        async def same() -> bool:
            return await snapshot(rebuilt.pool) == original  # type: ignore[arg-type]

        await eventually(same, timeout=30, what="the rebuilt projections to match")
    finally:
        await rebuilt.stop()


async def test_worker_killed_twice_mid_stream_loses_and_doubles_nothing(stack: Stack) -> None:
    customers = [f"cust_{i}" for i in range(10)]
    tenant = await setup_tenant(stack, customers)
    events = workload(6_000, customers, seed=4)
    assert stack.pool is not None

    async with stack.client(tenant["api_key"]) as api:
        for third in range(3):
            await send_all(api, events[third * 2000 : (third + 1) * 2000], batch=200)
            if third < 2:
                # Kill as soon as the worker is part-way through what was just sent.
                async def busy(n: int = third * 2000 + 300) -> bool:
                    found = await stack.pool.fetchval(  # type: ignore[union-attr]
                        "SELECT count(*) FROM charges WHERE tenant_id = $1", tenant["tenant_id"]
                    )
                    return found >= n

                await eventually(busy, timeout=60, what="the worker to make progress")
                stack.kill_worker(0)
                stack.start_worker(0)

    await wait_for_charges(stack.pool, tenant["tenant_id"], len(events))
    assert await balances(stack, tenant["api_key"], customers) == expected_balances(events, customers)
    total = await stack.pool.fetchval(
        "SELECT sum(credits) FROM charges WHERE tenant_id = $1", tenant["tenant_id"]
    )
    assert total == sum(price(e) for e in events)  # type: ignore[misc]


async def test_database_outage_mid_stream_is_waited_out(service_root: Path) -> None:
    home = service_root / f"pg-outage-{os.getpid()}"
    home.mkdir()
    server = EmbeddedPostgres(home, free_port())
    server.start()
    stack = await start_stack(service_root, server.dsn)
    try:
        customers = [f"cust_{i}" for i in range(5)]
        tenant = await setup_tenant(stack, customers)
        events = workload(3_000, customers, seed=5)
        async with stack.client(tenant["api_key"]) as api:
            await send_all(api, events[:1000], batch=100)
            assert stack.pool is not None
            await stack.pool.close()
            server.stop()
            # Keep sending while the database is down: the broker takes the events, the worker must
            # wait for the database and retry rather than skip them.
            sender = asyncio.create_task(send_all(api, events[1000:2000], batch=100))
            await asyncio.sleep(3)  # the length of the outage, not a wait for a condition
            await asyncio.to_thread(server.start)
            await sender
            await send_all(api, events[2000:], batch=100)
        stack.pool = await asyncpg.create_pool(server.dsn, min_size=1, max_size=2)
        await wait_for_charges(stack.pool, tenant["tenant_id"], len(events))
        assert await balances(stack, tenant["api_key"], customers) == expected_balances(events, customers)
        assert "retrying billing" in stack.workers[0].log_tail(400), "the worker never met the outage"
    finally:
        await stack.stop()
        server.stop()


def revos(stack: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    return stack.cli(*args)


async def test_fixing_the_burn_table_and_replaying_charges_unpriced_events_once(stack: Stack) -> None:
    customers = ["cust_a"]
    tenant = await setup_tenant(stack, customers)
    unpriced = [
        {"id": f"v{i}", "customer": "cust_a", "type": "video.minutes", "quantity": 2} for i in range(50)
    ]
    async with stack.client(tenant["api_key"]) as api:
        assert (await send_all(api, unpriced))["accepted"] == 50
        assert stack.pool is not None

        async def all_dead() -> bool:
            n = await stack.pool.fetchval(  # type: ignore[union-attr]
                "SELECT count(*) FROM dead_letters WHERE tenant_id = $1 AND code = 'unpriced'",
                tenant["tenant_id"],
            )
            return n == 50

        await eventually(all_dead, what="50 unpriced dead letters")
        listed = revos(stack, "dlq", "list", "--json", "--code", "unpriced")
        assert listed.returncode == 0, listed.stderr
        assert '"code": "unpriced"' in listed.stdout

        fixed = {
            "rules": [*TABLE["rules"], {"type": "video.minutes", "credits_per_unit": "3"}],
            "effective_at": "2020-01-01T00:00:00Z",
        }
        rejected = await api.put("/v1/burn-tables/default", json=fixed)
        assert rejected.status_code == 400 and rejected.json()["error"]["code"] == "timestamp_out_of_window"
        fixed["effective_at"] = (await api.get("/v1/burn-tables/default")).json()["effective_at"]
        assert (await api.put("/v1/burn-tables/default", json=fixed)).json()["version"] == 2

    dry = revos(stack, "dlq", "replay", "--all", "--dry-run")
    assert dry.returncode == 0 and "50 replayed" not in dry.stdout and "would replay" in dry.stdout
    for _ in range(2):  # replaying twice is safe
        result = revos(stack, "dlq", "replay", "--all", "--code", "unpriced")
        assert result.returncode == 0, result.stderr
    await wait_for_charges(stack.pool, tenant["tenant_id"], 50)
    assert await balances(stack, tenant["api_key"], customers) == {"cust_a": GRANT - 50 * 2 * 3}
    versions = await stack.pool.fetch(
        "SELECT DISTINCT burn_table_version FROM charges WHERE tenant_id = $1", tenant["tenant_id"]
    )
    assert [r[0] for r in versions] == [2]
