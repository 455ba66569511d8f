"""Entitlements and the real-time check end to end: set, listed, audited, counted down, and how fresh."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
from e2e_stack import Stack, eventually

BOOLEAN_ON = {"kind": "boolean", "enabled": True}
REPORTS = {
    "kind": "metered",
    "event_type": "report.completed",
    "match": {"tier": "deep"},
    "allowance": "3",
    "period": "day",
}


async def check(api: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    response = await api.post("/v1/check", json=body)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def verdict(answer: dict[str, Any]) -> dict[str, Any]:
    """An answer without its freshness fields, which depend on when it was asked, and without the credits
    on hold (always "0" here: these tests place no holds; tests/e2e/test_holds.py covers them)."""
    assert answer["on_hold"] == "0"
    return {k: v for k, v in answer.items() if k not in ("as_of", "lag_ms", "on_hold")}


def today() -> str:
    return (
        datetime.now(UTC)
        .replace(hour=0, minute=0, second=0, microsecond=0)
        .isoformat()
        .replace("+00:00", "Z")
    )


async def test_entitlements_are_set_listed_refused_audited_and_private(stack: Stack) -> None:
    tenant = await stack.create_tenant("acme")
    other = await stack.create_tenant("other")
    async with stack.client(tenant["api_key"]) as api:
        assert (await api.get("/v1/customers/c1/entitlements")).status_code == 404

        put = await api.put("/v1/customers/c1/entitlements/sso", json=BOOLEAN_ON)
        assert put.status_code == 200, put.text
        assert put.json() == {"customer": "c1", "feature": "sso", "kind": "boolean", "enabled": True,
                              "status": "applied"}  # fmt: skip
        put = await api.put("/v1/customers/c1/entitlements/agents", json={"kind": "limit", "limit": 5})
        assert put.json() == {"customer": "c1", "feature": "agents", "kind": "limit", "limit": "5",
                              "status": "applied"}  # fmt: skip
        put = await api.put("/v1/customers/c1/entitlements/reports", json=REPORTS)
        assert put.json() == {"customer": "c1", "feature": "reports", **REPORTS, "status": "applied"}
        # A second write replaces the first whole.
        put = await api.put("/v1/customers/c1/entitlements/sso", json={"kind": "boolean", "enabled": False})
        assert put.status_code == 200 and put.json()["enabled"] is False

        listed = (await api.get("/v1/customers/c1/entitlements")).json()
        assert listed["customer"] == "c1"
        items = listed["entitlements"]
        assert all(isinstance(e.pop("updated_at"), str) for e in items)
        assert items == [
            {"feature": "agents", "kind": "limit", "limit": "5"},
            {"feature": "reports", **REPORTS, "used": "0", "remaining": "3", "period_start": today()},
            {"feature": "sso", "kind": "boolean", "enabled": False},
        ]

        bad = {
            "invalid_entitlement_kind": {"kind": "quota", "limit": "1"},
            "invalid_entitlement": {"kind": "boolean", "enabled": True, "limit": "1"},
            "invalid_period": {**REPORTS, "period": "week"},
            "negative_decimal": {"kind": "limit", "limit": "-1"},
            "invalid_decimal": {**REPORTS, "allowance": "three"},
            "unknown_field": {**BOOLEAN_ON, "plan": "pro"},
        }
        for code, body in bad.items():
            refused = await api.put("/v1/customers/c1/entitlements/sso", json=body)
            assert (refused.status_code, refused.json()["error"]["code"]) == (400, code), body
        long_name = await api.put(f"/v1/customers/c1/entitlements/{'f' * 201}", json=BOOLEAN_ON)
        assert (long_name.status_code, long_name.json()["error"]["code"]) == (400, "invalid_feature")

        # The check: a disabled feature, one never entitled, and one with a limit.
        assert (await api.post("/v1/customers/c1/grants", json={"amount": "5"})).status_code == 201
        assert verdict(await check(api, customer="c1", feature="sso")) == {
            "allowed": False, "reason": "feature_disabled", "balance": "5"}  # fmt: skip
        assert verdict(await check(api, customer="c1", feature="export")) == {
            "allowed": False, "reason": "feature_not_entitled", "balance": "5"}  # fmt: skip
        assert verdict(await check(api, customer="c1", feature="agents")) == {
            "allowed": True, "reason": "ok", "balance": "5", "remaining": "5"}  # fmt: skip
        assert verdict(await check(api, customer="c1")) == {"allowed": True, "reason": "ok", "balance": "5"}

        async def audited() -> list[dict[str, Any]] | None:
            found = (await api.get("/v1/audit", params={"action": "entitlement.set"})).json()["entries"]
            return found if len(found) == 4 else None

        log = await eventually(audited, what="four entitlement.set entries")
        assert [e["target"] for e in log] == [
            "customer:c1/entitlement:sso", "customer:c1/entitlement:agents",
            "customer:c1/entitlement:reports", "customer:c1/entitlement:sso",
        ]  # fmt: skip
        assert [e["before"] for e in log[:3]] == [None, None, None]
        assert log[0]["after"] == {"feature": "sso", "kind": "boolean", "enabled": True}
        assert log[1]["after"] == {"feature": "agents", "kind": "limit", "limit": "5"}
        assert log[2]["after"] == {"feature": "reports", **REPORTS}
        assert log[3]["before"] == log[0]["after"]
        assert log[3]["after"] == {"feature": "sso", "kind": "boolean", "enabled": False}
        assert log[3]["actor"] == f"key:{tenant['key_id']}"

    async with stack.client(other["api_key"]) as api:
        assert (await api.get("/v1/customers/c1/entitlements")).status_code == 404
        # Same customer name, another tenant: nothing of acme's is visible to the check.
        assert verdict(await check(api, customer="c1")) == {
            "allowed": False, "reason": "insufficient_credits", "balance": "0"}  # fmt: skip
        assert verdict(await check(api, customer="c1", feature="agents")) == {
            "allowed": False, "reason": "feature_not_entitled", "balance": "0"}  # fmt: skip
        assert (await api.put("/v1/customers/c1/entitlements/sso", json=BOOLEAN_ON)).status_code == 200
        theirs = (await api.get("/v1/customers/c1/entitlements")).json()["entitlements"]
        assert [(e["feature"], e["enabled"]) for e in theirs] == [("sso", True)]

    async with stack.client(tenant["api_key"]) as api:
        mine = (await api.get("/v1/customers/c1/entitlements")).json()["entitlements"]
        assert [(e["feature"], e.get("enabled")) for e in mine] == [("agents", None), ("reports", None),
                                                                  ("sso", False)]  # fmt: skip
        assert (await check(api, customer="c1", feature="sso"))["reason"] == "feature_disabled"


async def test_a_metered_allowance_counts_down_and_the_check_says_how_fresh_it_is(stack: Stack) -> None:
    tenant = await stack.create_tenant()
    async with stack.client(tenant["api_key"]) as api:
        table = {"rules": [{"type": "report.completed", "credits_per_unit": "1"}]}
        assert (await api.put("/v1/burn-tables/default", json=table)).status_code == 200
        assert (await api.post("/v1/customers/c1/grants", json={"amount": "100"})).status_code == 201
        assert (await api.put("/v1/customers/c1/entitlements/reports", json=REPORTS)).status_code == 200

        async def fresh() -> dict[str, Any] | None:
            answer = await check(api, customer="c1", feature="reports")
            return answer if answer["as_of"] is not None else None

        first = await eventually(fresh, what="a watermark on the customer's partition")
        assert verdict(first) == {"allowed": True, "reason": "ok", "balance": "100", "remaining": "3"}
        assert isinstance(first["lag_ms"], int) and 0 <= first["lag_ms"] < 5000, first

        async def send(*events: tuple[str, str]) -> datetime:
            """Send report events (id, tier); returns a time after the broker acknowledged them."""
            batch = [{"id": i, "customer": "c1", "type": "report.completed", "properties": {"tier": tier}}
                     for i, tier in events]  # fmt: skip
            assert (await api.post("/v1/events", json={"events": batch})).json()["accepted"] == len(batch)
            return datetime.now(UTC)

        async def reflecting(sent: datetime) -> dict[str, Any]:
            """The first answer whose watermark is past `sent`: it must reflect everything sent before."""

            async def answer() -> dict[str, Any] | None:
                found = await check(api, customer="c1", feature="reports")
                return found if datetime.fromisoformat(found["as_of"]) > sent else None

            found: dict[str, Any] = await eventually(answer, what=f"a watermark after {sent}", timeout=10)
            assert found["lag_ms"] < 5000, found
            return found

        # Only usage of the event type whose properties match counts.
        sent = await send(("r1", "deep"), ("r2", "basic"))
        assert verdict(await reflecting(sent)) == {"allowed": True, "reason": "ok", "balance": "98",
                                                   "remaining": "2"}  # fmt: skip
        sent = await send(("r3", "deep"))
        assert verdict(await reflecting(sent))["remaining"] == "1"
        sent = await send(("r4", "deep"))
        assert verdict(await reflecting(sent)) == {"allowed": False, "reason": "allowance_exhausted",
                                                   "balance": "96", "remaining": "0"}  # fmt: skip

        listed = (await api.get("/v1/customers/c1/entitlements")).json()["entitlements"]
        assert [(e["used"], e["remaining"], e["period_start"]) for e in listed] == [("3", "0", today())]


async def test_the_check_spends_against_balance_plus_credit_limit(stack: Stack) -> None:
    tenant = await stack.create_tenant()
    async with stack.client(tenant["api_key"]) as api:
        table = {"rules": [{"type": "t", "credits_per_unit": "1"}]}
        assert (await api.put("/v1/burn-tables/default", json=table)).status_code == 200

        # A customer never seen is not an error: it simply has nothing to spend.
        assert verdict(await check(api, customer="c2", credits="2")) == {
            "allowed": False, "reason": "insufficient_credits", "balance": "0"}  # fmt: skip
        assert verdict(await check(api, customer="c2", feature="x")) == {
            "allowed": False, "reason": "feature_not_entitled", "balance": "0"}  # fmt: skip

        assert (await api.post("/v1/customers/c2/grants", json={"amount": "5"})).status_code == 201
        assert verdict(await check(api, customer="c2", credits="2")) == {
            "allowed": True, "reason": "ok", "balance": "5"}  # fmt: skip

        events = [{"id": f"u{i}", "customer": "c2", "type": "t"} for i in range(4)]
        assert (await api.post("/v1/events", json={"events": events})).json()["accepted"] == 4

        async def short() -> dict[str, Any] | None:
            answer = await check(api, customer="c2", credits="2")
            return answer if answer["balance"] == "1" else None

        assert verdict(await eventually(short, what="four credits spent")) == {
            "allowed": False, "reason": "insufficient_credits", "balance": "1"}  # fmt: skip
        assert (await api.get("/v1/customers/c2/balance")).json()["balance"] == "1"  # the same figure
        assert (await check(api, customer="c2", credits="1"))["allowed"] is True

        put = await api.put("/v1/customers/c2", json={"credit_limit": "10"})
        assert put.status_code == 200, put.text
        assert verdict(await check(api, customer="c2", credits="2")) == {
            "allowed": True, "reason": "ok", "balance": "1"}  # fmt: skip
        assert verdict(await check(api, customer="c2", credits="11")) == {
            "allowed": True, "reason": "ok", "balance": "1"}  # fmt: skip
        assert (await check(api, customer="c2", credits="11.000000001"))["reason"] == "insufficient_credits"

        bad = {
            "invalid_customer": {"customer": ""},
            "invalid_feature": {"customer": "c2", "feature": ""},
            "negative_decimal": {"customer": "c2", "credits": "-1"},
            "invalid_decimal": {"customer": "c2", "credits": "two"},
            "unknown_field": {"customer": "c2", "amount": "1"},
        }
        for code, body in bad.items():
            refused = await api.post("/v1/check", json=body)
            assert (refused.status_code, refused.json()["error"]["code"]) == (400, code), body
