"""The SDK's Kafka transport end to end: records produced straight to the usage topic are charged once."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from e2e_stack import Stack, eventually
from revos_sdk import BurnRule, Revos

GRANT = Decimal(10_000)
CUSTOMERS = ("cust_a", "cust_b", "cust_c")


def price(event_type: str, quantity: Decimal, model: str | None) -> Decimal:
    if event_type == "report.completed":
        return quantity * 50
    return quantity * (Decimal("0.002") if model == "gpt-4o" else Decimal("0.001"))


async def test_events_produced_through_kafka_are_charged_exactly_once(stack: Stack) -> None:
    tenant = await stack.create_tenant()
    # Events go to Kafka; the API helpers still talk to the gateway with the key.
    revos = Revos(
        api_key=tenant["api_key"],
        base_url=stack.url,
        kafka_bootstrap=stack.settings.bootstrap_servers,
        tenant_id=tenant["tenant_id"],
        max_batch_events=50,
    )
    try:
        rules = [
            BurnRule("llm.tokens", Decimal("0.002"), match={"model": "gpt-4o"}),
            BurnRule("llm.tokens", Decimal("0.001")),
            BurnRule("report.completed", 50),
        ]
        await asyncio.to_thread(revos.publish_burn_table, "default", rules)
        for customer in CUSTOMERS:
            await asyncio.to_thread(revos.grant_credits, customer, GRANT, id=f"g-{customer}")

        expected = dict.fromkeys(CUSTOMERS, Decimal(0))
        tracked: list[tuple[str, str, str, Decimal, str | None]] = []
        for i in range(300):
            customer = CUSTOMERS[i % len(CUSTOMERS)]
            model = "gpt-4o" if i % 2 else "mini"
            quantity = Decimal(i + 1) if i % 4 else Decimal(f"{i}.125")
            tracked.append((f"e{i}", customer, "llm.tokens", quantity, model))
        tracked += [(f"r{i}", CUSTOMERS[i % 3], "report.completed", Decimal(1), None) for i in range(6)]
        # The same ids tracked again (a retried job, say) are produced again and must change nothing.
        duplicates = tracked[:40]
        # Last, one event per customer: records of one customer share a partition, so once these are
        # charged the worker has been through the duplicates too.
        sentinels = [(f"last-{c}", c, "report.completed", Decimal(1), None) for c in CUSTOMERS]
        for event_id, customer, event_type, quantity, model in tracked + duplicates + sentinels:
            revos.track(customer, event_type, quantity, {"model": model} if model else None, id=event_id)
        assert await asyncio.to_thread(revos.flush, 20)
        assert revos.stats()["sent"] == len(tracked) + len(duplicates) + len(sentinels)
        tracked += sentinels
        for _, customer, event_type, quantity, model in tracked:
            expected[customer] += price(event_type, quantity, model)

        assert stack.pool is not None
        pool = stack.pool

        async def all_charged() -> bool:
            count = await pool.fetchval(
                "SELECT count(*) FROM charges WHERE tenant_id = $1", tenant["tenant_id"]
            )
            return bool(count == len(tracked))

        await eventually(all_charged, timeout=60, every=0.2, what=f"{len(tracked)} charges")
        rows = await pool.fetch(
            "SELECT customer, sum(credits) AS credits, count(*) AS n, count(received_at) AS received "
            "FROM charges WHERE tenant_id = $1 GROUP BY customer",
            tenant["tenant_id"],
        )
        assert {r["customer"]: r["credits"] for r in rows} == expected
        assert sum(r["n"] for r in rows) == sum(r["received"] for r in rows) == len(tracked)
        balances = {c: (await asyncio.to_thread(revos.get_balance, c)).balance for c in CUSTOMERS}
        assert balances == {c: GRANT - expected[c] for c in CUSTOMERS}
    finally:
        await asyncio.to_thread(revos.close)
