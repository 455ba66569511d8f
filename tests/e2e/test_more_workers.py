"""Two workers in one consumer group share the partitions; when one is killed the other takes over its share."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import asyncpg
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.partitioner import murmur2
from e2e_stack import Stack, eventually, send_all, start_stack
from test_delivery import balances, expected_balances, setup_tenant, wait_for_charges, workload

from pipeline.topics import BILLING, customer_key

# Test instrumentation in the test's own database: which worker connection inserted each charge.
# Every worker connects with its own application_name; a rolled-back insert leaves no row here either.
NOTE_APPLIER = """
CREATE TABLE test_charge_appliers (
    tenant_id text NOT NULL, event_id text NOT NULL, applier text NOT NULL, partition integer NOT NULL,
    PRIMARY KEY (tenant_id, event_id)
);
CREATE FUNCTION test_note_applier() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO test_charge_appliers VALUES (NEW.tenant_id, NEW.event_id, current_setting('application_name'),
                                             NEW.partition);
    RETURN NEW;
END $$;
CREATE TRIGGER test_note_applier AFTER INSERT ON charges FOR EACH ROW EXECUTE FUNCTION test_note_applier();
"""


def covering(tenant_id: str, *, partitions: int, each: int) -> list[str]:
    """Customers whose records land `each` on every billing partition (keys `tenant:customer`, murmur2 as
    the producer partitions them): random tenant ids must not leave a partition without records."""
    found: dict[int, list[str]] = defaultdict(list)
    i = 0
    while len(found) < partitions or min(len(c) for c in found.values()) < each:
        customer = f"cust_{i}"
        partition = (murmur2(customer_key(tenant_id, customer)) & 0x7FFFFFFF) % partitions
        if len(found[partition]) < each:
            found[partition].append(customer)
        i += 1
    return [c for p in sorted(found) for c in found[p]]


def named_dsn(dsn: str, application_name: str) -> str:
    parts = urlsplit(dsn)
    query = [*parse_qsl(parts.query), ("application_name", application_name)]
    return urlunsplit(parts._replace(query=urlencode(query)))


async def group_members(stack: Stack) -> int:
    """How many members the broker reports in the workers' consumer group."""
    admin = AIOKafkaAdminClient(bootstrap_servers=stack.settings.bootstrap_servers)
    await admin.start()
    try:
        [response] = await admin.describe_consumer_groups([stack.settings.consumer_group])
    finally:
        await admin.close()
    return sum(len(g[5]) for g in response.groups if g[2] == "Stable")


async def appliers(pool: asyncpg.Pool, tenant_id: str) -> dict[str, str]:
    rows = await pool.fetch(
        "SELECT event_id, applier FROM test_charge_appliers WHERE tenant_id = $1", tenant_id
    )
    return {r["event_id"]: r["applier"] for r in rows}


async def partitions_by_applier(pool: asyncpg.Pool, tenant_id: str, ids: list[str]) -> dict[str, set[int]]:
    rows = await pool.fetch(
        "SELECT applier, partition FROM test_charge_appliers WHERE tenant_id = $1 AND event_id = ANY($2)",
        tenant_id,
        ids,
    )
    found: dict[str, set[int]] = defaultdict(set)
    for r in rows:
        found[r["applier"]].add(r["partition"])
    return dict(found)


async def test_two_workers_share_the_partitions_and_the_survivor_takes_over(
    service_root: Path, database: str
) -> None:
    stack = await start_stack(service_root, database, workers=0, partitions=8)
    try:
        assert stack.pool is not None
        await stack.pool.execute(NOTE_APPLIER)
        for i in (0, 1):
            stack.start_worker(i, env={"REVOS_DATABASE_URL": named_dsn(database, f"worker-{i}")})

        async def both_joined() -> bool:
            return await group_members(stack) == 2

        await eventually(both_joined, timeout=45, every=0.5, what="both workers in one stable consumer group")

        tenant = await stack.create_tenant()
        customers = covering(tenant["tenant_id"], partitions=8, each=5)
        await setup_tenant(stack, customers, tenant)
        tenant_id = tenant["tenant_id"]
        events = workload(8_000, customers, seed=21)
        first, during, after = events[:3_000], events[3_000:5_000], events[5_000:]
        async with stack.client(tenant["api_key"]) as api:
            await send_all(api, first)
            await wait_for_charges(stack.pool, tenant_id, len(first))
            shared = await partitions_by_applier(stack.pool, tenant_id, [e["id"] for e in first])
            assert set(shared) == {"worker-0", "worker-1"}, f"one worker applied everything: {shared}"
            assert shared["worker-0"] | shared["worker-1"] == set(range(8))

            # Kill worker 0 while the stream is flowing, then keep sending to every partition.
            sender = asyncio.create_task(send_all(api, during, batch=100))

            async def busy() -> bool:
                n = await stack.pool.fetchval(  # type: ignore[union-attr]
                    "SELECT count(*) FROM charges WHERE tenant_id = $1", tenant_id
                )
                return n >= len(first) + 500

            await eventually(busy, timeout=30, what="progress on the second wave")
            stack.kill_worker(0)
            await sender
            await send_all(api, after)

        await wait_for_charges(stack.pool, tenant_id, len(events), timeout=90)
        applied = await appliers(stack.pool, tenant_id)
        assert set(applied) == {e["id"] for e in events}
        assert await balances(stack, tenant["api_key"], customers) == expected_balances(events, customers)
        # Everything sent after the kill was applied by the survivor, including worker 0's partitions.
        late = await partitions_by_applier(stack.pool, tenant_id, [e["id"] for e in after])
        assert set(late) == {"worker-1"}, late
        assert shared["worker-0"] <= late["worker-1"]
        covered = await stack.pool.fetch(
            "SELECT partition FROM stream_offsets WHERE consumer = 'billing' AND topic = $1 ORDER BY partition",
            BILLING,
        )
        assert [r["partition"] for r in covered] == list(range(8))
    finally:
        await stack.stop()
