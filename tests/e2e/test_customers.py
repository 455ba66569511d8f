"""A customer priced by a burn table other than `default`, with its settings audited."""

from __future__ import annotations

from decimal import Decimal

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
