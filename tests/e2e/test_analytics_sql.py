"""`revos sql` and the analytics views through the whole stack: a tenant's session sees its rows only, the
rollups follow voids, and a BI tool's connection string reads the same."""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal

import asyncpg
from credits_api import charge
from e2e_stack import Stack
from waiting import eventually


def rows(out: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(out)))


async def test_revos_sql_shows_one_tenant_its_own_usage_and_nothing_of_another(stack: Stack) -> None:
    tenants = [await stack.create_tenant("acme"), await stack.create_tenant("other")]
    for tenant, quantities in zip(tenants, ((5, 3), (100,)), strict=True):
        async with stack.client(tenant["api_key"]) as api:
            rules = {"rules": [{"type": "t", "credits_per_unit": "2", "cost_per_unit": "0.5"}]}
            assert (await api.put("/v1/burn-tables/default", json=rules)).status_code == 200
            grant = {"id": "g1", "amount": "1000"}
            assert (await api.post("/v1/customers/c1/grants", json=grant)).status_code == 201
            await charge(api, "c1", *quantities)
    acme, other = (t["tenant_id"] for t in tenants)
    async with stack.client(tenants[0]["api_key"]) as api:
        assert (await api.post("/v1/events/e2/void", json={"reason": "test"})).status_code == 200

    query = "SELECT tenant_id, customer, type, events, quantity, credits, cost FROM usage_daily"

    async def daily() -> list[dict[str, str]] | None:
        done = stack.cli("sql", "--tenant", acme, "--csv", "-c", query)
        assert done.returncode == 0, done.stderr
        found = rows(done.stdout)
        return found if found and found[0]["events"] == "1" else None  # the void has reached the rollup

    found = await eventually(daily, what="the void in acme's daily usage")
    assert [(r["tenant_id"], r["customer"], r["type"]) for r in found] == [(acme, "c1", "t")]
    assert (Decimal(found[0]["quantity"]), Decimal(found[0]["credits"]), Decimal(found[0]["cost"])) == (
        5,
        10,
        2.5,
    )

    # Every tenant for an operator's session.
    everyone = stack.cli("sql", "--csv", "-c", "SELECT DISTINCT tenant_id FROM charges ORDER BY 1")
    assert everyone.returncode == 0, everyone.stderr
    assert {r["tenant_id"] for r in rows(everyone.stdout)} == {acme, other}

    # A BI tool's connection string: the same login, read-only, still one tenant.
    dsn = stack.cli("sql", "--tenant", acme, "--dsn")
    assert dsn.returncode == 0, dsn.stderr
    conn = await asyncpg.connect(dsn.stdout.strip())
    try:
        assert {r[0] for r in await conn.fetch("SELECT tenant_id FROM analytics.charges")} == {acme}
        assert (
            await conn.fetchval("SELECT count(*) FROM analytics.usage_hourly WHERE tenant_id = $1", other)
            == 0
        )
    finally:
        await conn.close()
    # The password is kept: asking again gives the same string; a new one replaces it.
    assert stack.cli("sql", "--tenant", acme, "--dsn").stdout == dsn.stdout
    renewed = stack.cli("sql", "--tenant", acme, "--dsn", "--new-password")
    assert renewed.returncode == 0 and renewed.stdout != dsn.stdout
    try:
        await asyncpg.connect(dsn.stdout.strip())
        raise AssertionError("the old password still works")
    except asyncpg.InvalidPasswordError:
        pass

    status = stack.cli("infra", "status")
    assert status.returncode == 0, status.stderr
    product = json.loads(status.stdout)["product"]
    assert (product["tenants"], product["activated"], product["activation_rate"]) == (2, 0, 0.0)

    refused = stack.cli("sql", "--tenant", "ten_nope", "-c", "SELECT 1")
    assert refused.returncode != 0 and "no tenant 'ten_nope'" in refused.stderr
    failed = stack.cli("sql", "--tenant", acme, "-c", "SELECT * FROM public.grants")
    assert failed.returncode != 0 and "permission denied" in failed.stderr
