"""Customers: the tenant's list with balances, and a customer priced by a burn table other than `default`,
with its settings audited."""

from __future__ import annotations

from decimal import Decimal

import orjson
from e2e_stack import Stack, eventually


async def test_a_customer_assigned_another_table_is_priced_by_it(stack: Stack) -> None:
    tenant = await stack.create_tenant()
    other = await stack.create_tenant("other")
    async with stack.client(tenant["api_key"]) as api:
        for name, price in (("default", "1"), ("premium", "5")):
            table = {"rules": [{"type": "t", "credits_per_unit": price}]}
            assert (await api.put(f"/v1/burn-tables/{name}", json=table)).status_code == 200
        assert (await api.get("/v1/customers/vip")).status_code == 404

        put = await api.put(
            "/v1/customers/vip",
            json={"burn_table": "premium", "credit_limit": "100", "metadata": {"plan": "pro"}},
        )
        assert put.status_code == 200, put.text
        assert put.json() == {"customer": "vip", "burn_table": "premium", "credit_limit": "100",
                              "metadata": {"plan": "pro"}, "alert_thresholds": [], "status": "applied"}  # fmt: skip
        # A partial update keeps the other settings.
        again = await api.put("/v1/customers/vip", json={"metadata": {"plan": "max"}})
        assert again.json()["burn_table"] == "premium" and again.json()["credit_limit"] == "100"

        events = [{"id": "v1", "customer": "vip", "type": "t", "quantity": 2},
                  {"id": "r1", "customer": "regular", "type": "t", "quantity": 2}]  # fmt: skip
        assert (await api.post("/v1/events", json={"events": events})).json()["accepted"] == 2

        async def credits(customer: str) -> Decimal | None:
            charges = (await api.get(f"/v1/customers/{customer}/charges")).json().get("charges", [])
            return Decimal(charges[0]["credits"]) if charges else None

        assert await eventually(lambda: credits("vip"), what="the vip charge") == 10
        assert await eventually(lambda: credits("regular"), what="the regular charge") == 2
        vip_charge = (await api.get("/v1/customers/vip/charges")).json()["charges"][0]
        assert vip_charge["burn_table"] == "premium"

        bad = await api.put("/v1/customers/vip", json={"credit_limit": "-1"})
        assert bad.status_code == 400 and bad.json()["error"]["code"] == "negative_decimal"
        unknown = await api.put("/v1/customers/vip", json={"plan": "x"})
        assert unknown.status_code == 400 and unknown.json()["error"]["code"] == "unknown_field"

        async def audited() -> list[dict] | None:  # type: ignore[type-arg]
            found = (await api.get("/v1/audit", params={"action": "customer.update"})).json()["entries"]
            return found if len(found) == 2 else None

        first, second = await eventually(audited, what="two customer.update entries")
        assert first["before"] is None and first["after"]["burn_table"] == "premium"
        assert second["before"]["metadata"] == {"plan": "pro"} and second["after"]["metadata"] == {
            "plan": "max"
        }

    async with stack.client(other["api_key"]) as api:
        assert (await api.get("/v1/customers/vip")).status_code == 404


async def test_the_tenants_customers_are_listed_by_id_with_balances_paged_and_filtered(stack: Stack) -> None:
    tenant = await stack.create_tenant()
    other = await stack.create_tenant("other")
    async with stack.client(other["api_key"]) as api:
        granted = await api.post("/v1/customers/acme-0/grants", json={"amount": "1"})
        assert granted.status_code == 201, granted.text
    async with stack.client(tenant["api_key"]) as api:
        assert (await api.get("/v1/customers")).json()["customers"] == []
        assert (
            await api.put(
                "/v1/burn-tables/default", json={"rules": [{"type": "t", "credits_per_unit": "0.5"}]}
            )
        ).status_code == 200
        # A customer appears with a grant, with settings, or with its first charged usage.
        for customer, amount in (("acme-1", "10.123456789"), ("acme-3", "5")):
            granted = await api.post(f"/v1/customers/{customer}/grants", json={"amount": amount})
            assert granted.status_code == 201, granted.text
        assert (await api.put("/v1/customers/acme-2", json={"credit_limit": "7"})).status_code == 200
        events = [{"id": "e1", "customer": "beta-1", "type": "t", "quantity": 3},
                  {"id": "e2", "customer": "acme-3", "type": "t", "quantity": 4}]  # fmt: skip
        assert (await api.post("/v1/events", json={"events": events})).json()["accepted"] == 2

        async def listed() -> list[dict] | None:  # type: ignore[type-arg]
            found = (await api.get("/v1/customers")).json()["customers"]
            charged = {c["customer"]: c for c in found}
            return found if charged.get("acme-3", {}).get("balance") == "3" and "beta-1" in charged else None

        everyone = await eventually(listed, what="both charges in the list")
        assert [(c["customer"], c["balance"], c["debt"], c["credit_limit"]) for c in everyone] == [
            ("acme-1", "10.123456789", "0", "0"),
            ("acme-2", "0", "0", "7"),
            ("acme-3", "3", "0", "0"),
            ("beta-1", "-1.5", "1.5", "0"),
        ]
        assert all(c["burn_table"] == "default" and c["last_activity_at"] for c in everyone)

        first = (await api.get("/v1/customers", params={"prefix": "acme-", "limit": 2})).json()
        assert [c["customer"] for c in first["customers"]] == ["acme-1", "acme-2"] and first["next_cursor"]
        second = (
            await api.get(
                "/v1/customers", params={"prefix": "acme-", "limit": 2, "cursor": first["next_cursor"]}
            )
        ).json()
        assert [c["customer"] for c in second["customers"]] == ["acme-3"] and second["next_cursor"] is None
        assert (await api.get("/v1/customers", params={"prefix": "ACME"})).json()["customers"] == []
        assert (await api.get("/v1/customers", params={"prefix": "%"})).json()["customers"] == []

        for params, code in (({"cursor": "nope"}, "invalid_cursor"), ({"limit": "0"}, "invalid_limit"),
                             ({"prefix": "x" * 201}, "invalid_prefix")):  # fmt: skip
            bad = await api.get("/v1/customers", params=params)
            assert (bad.status_code, bad.json()["error"]["code"]) == (400, code), params

    ingest = stack.cli("tenant", "key", tenant["tenant_id"], "--scope", "ingest")
    assert ingest.returncode == 0, ingest.stderr
    async with stack.client(orjson.loads(ingest.stdout)["api_key"]) as api:
        refused = await api.get("/v1/customers")
        assert (refused.status_code, refused.json()["error"]["code"]) == (403, "insufficient_scope")
    async with stack.client(other["api_key"]) as api:
        assert [c["customer"] for c in (await api.get("/v1/customers")).json()["customers"]] == ["acme-0"]
