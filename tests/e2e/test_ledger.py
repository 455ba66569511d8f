"""The credits ledger end to end: burn order, expiry on time, grant voids, running balances and alerts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from credits_api import audited, balance, charge, ledger, ledger_with, remaining
from e2e_stack import Stack, eventually

TABLE = {"rules": [{"type": "t", "credits_per_unit": "1"}]}


def at(value: str) -> datetime:
    return datetime.fromisoformat(value)


async def test_grants_burn_down_by_priority_then_soonest_expiry_then_oldest(stack: Stack) -> None:
    tenant = await stack.create_tenant()
    now = datetime.now(UTC)
    async with stack.client(tenant["api_key"]) as api:
        assert (await api.put("/v1/burn-tables/default", json=TABLE)).status_code == 200
        # Created in the opposite of burn order, so creation order cannot explain the result.
        grants = [
            {"id": "never", "amount": "5"},
            {"id": "later", "amount": "5", "expires_at": (now + timedelta(days=2)).isoformat()},
            {"id": "soon_new", "amount": "5", "expires_at": (now + timedelta(days=1)).isoformat(),
             "effective_at": (now - timedelta(hours=1)).isoformat()},
            {"id": "soon_old", "amount": "5", "expires_at": (now + timedelta(days=1)).isoformat(),
             "effective_at": (now - timedelta(hours=2)).isoformat()},
            {"id": "priority", "amount": "5", "priority": 10},
        ]  # fmt: skip
        for g in grants:
            created = await api.post("/v1/customers/c1/grants", json=g)
            assert created.status_code == 201, created.text

        await charge(api, "c1", 3, 4)
        assert await remaining(api, "c1") == {
            "priority": 0, "soon_old": 3, "soon_new": 5, "later": 5, "never": 5
        }  # fmt: skip
        await charge(api, "c1", 5, 2, prefix="f")
        assert await remaining(api, "c1") == {
            "priority": 0, "soon_old": 0, "soon_new": 1, "later": 5, "never": 5
        }  # fmt: skip
        assert Decimal((await balance(api, "c1"))["balance"]) == 11


async def test_an_expiry_lands_on_time_and_takes_the_unspent_credits(stack: Stack) -> None:
    tenant = await stack.create_tenant()
    async with stack.client(tenant["api_key"]) as api:
        assert (await api.put("/v1/burn-tables/default", json=TABLE)).status_code == 200
        expires_at = datetime.now(UTC) + timedelta(seconds=3)
        created = await api.post("/v1/customers/c1/grants", json={"id": "g", "amount": "10",
                                                                   "expires_at": expires_at.isoformat()})  # fmt: skip
        assert created.status_code == 201, created.text
        await charge(api, "c1", 4)
        before = await balance(api, "c1")
        assert datetime.now(UTC) < expires_at, "setup took too long: the grant expired before the checks"
        assert Decimal(before["balance"]) == 6

        async def expiry() -> dict | None:  # type: ignore[type-arg]
            return next((e for e in await ledger(api, "c1") if e["kind"] == "expiry"), None)

        entry = await eventually(expiry, timeout=15, what="the expiry entry")
        assert entry["reference"] == "g" and Decimal(entry["amount"]) == -6 and Decimal(entry["balance"]) == 0
        assert at(entry["at"]) == expires_at
        late = at(entry["recorded_at"]) - expires_at
        assert timedelta(0) <= late <= timedelta(seconds=1), f"expiry recorded {late} after expires_at"

        after = await balance(api, "c1")
        assert Decimal(after["balance"]) == 0
        (grant,) = after["grants"]
        assert (
            grant["status"] == "expired"
            and Decimal(grant["remaining"]) == 0
            and grant["closed_at"] is not None
        )
        # An expired grant cannot be voided.
        refused = await api.post("/v1/customers/c1/grants/g/void")
        assert refused.status_code == 409 and refused.json()["error"]["code"] == "grant_not_active"
        assert "expired" in refused.json()["error"]["message"]


async def test_voiding_a_grant_takes_its_remaining_credits_once(stack: Stack) -> None:
    tenant = await stack.create_tenant()
    other = await stack.create_tenant("other")
    async with stack.client(tenant["api_key"]) as api:
        assert (await api.put("/v1/burn-tables/default", json=TABLE)).status_code == 200
        for g in ({"id": "g1", "amount": "10", "priority": 1}, {"id": "g2", "amount": "5"}):
            assert (await api.post("/v1/customers/c1/grants", json=g)).status_code == 201
        await charge(api, "c1", 3)
        assert Decimal((await balance(api, "c1"))["balance"]) == 12

    async with stack.client(other["api_key"]) as api:  # another tenant sees nothing and changes nothing
        hidden = await api.post("/v1/customers/c1/grants/g1/void", json={"reason": "x"})
        assert hidden.status_code == 404 and hidden.json()["error"]["code"] == "grant_not_found"
        assert (await api.get("/v1/customers/c1/ledger")).status_code == 404

    async with stack.client(tenant["api_key"]) as api:
        voided = await api.post("/v1/customers/c1/grants/g1/void", json={"reason": "refunded"})
        assert voided.status_code == 200, voided.text
        body = voided.json()
        assert (body["customer"], body["grant_id"], body["status"], body["remaining"], body["amount"]) == (
            "c1", "g1", "voided", "0", "10"
        )  # fmt: skip
        assert body["closed_at"] is not None
        state = await balance(api, "c1")
        assert Decimal(state["balance"]) == 5
        assert {g["grant_id"]: (g["status"], g["remaining"]) for g in state["grants"]} == {
            "g1": ("voided", "0"), "g2": ("active", "5")
        }  # fmt: skip
        entries = await ledger(api, "c1")
        assert [(e["kind"], e["reference"], e["amount"], e["balance"]) for e in entries] == [
            ("grant", "g1", "10", "10"), ("grant", "g2", "5", "15"), ("charge", "e1", "-3", "12"),
            ("void", "g1", "-7", "5"),
        ]  # fmt: skip

        again = await api.post("/v1/customers/c1/grants/g1/void")  # no body: the reason is optional
        assert again.status_code == 200 and again.json() == body
        missing = await api.post("/v1/customers/c1/grants/nope/void")
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "grant_not_found"
        bad = await api.post("/v1/customers/c1/grants/g2/void", json={"reason": 1})
        assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_reason"

        # A later write's audit entry proves the repeat and the refusals left none of their own.
        assert (
            await api.post("/v1/customers/c1/grants", json={"id": "g3", "amount": "1"})
        ).status_code == 201
        await audited(api, "grant.create", 3)
        (entry,) = await audited(api, "grant.void", 1)
        assert entry["target"] == "customer:c1/grant:g1"
        assert entry["before"] == {"grant_id": "g1", "amount": "10", "remaining": "7", "status": "active"}
        assert entry["after"] == {"grant_id": "g1", "amount": "10", "remaining": "0", "status": "voided",
                                  "reason": "refunded"}  # fmt: skip
        assert len(await ledger(api, "c1")) == 5  # the void once, then g3's grant


async def test_the_ledger_balance_runs_through_every_entry_and_pages_once(stack: Stack) -> None:
    tenant = await stack.create_tenant()
    other = await stack.create_tenant("other")
    async with stack.client(tenant["api_key"]) as api:
        assert (await api.get("/v1/customers/c1/ledger")).status_code == 404
        assert (await api.put("/v1/burn-tables/default", json=TABLE)).status_code == 200
        for g in ({"id": "g1", "amount": "20"}, {"id": "g2", "amount": "5"}):
            assert (await api.post("/v1/customers/c1/grants", json=g)).status_code == 201
        await charge(api, "c1", 3, "4.5")
        assert (await api.post("/v1/customers/c1/grants/g2/void")).status_code == 200
        await charge(api, "c1", 30, prefix="f")  # more than is left: the rest becomes debt
        assert (
            await api.post("/v1/customers/c1/grants", json={"id": "g3", "amount": "10"})
        ).status_code == 201

        entries = await ledger_with(api, "c1", 8)
        assert [(e["kind"], e["reference"], e["amount"]) for e in entries] == [
            ("grant", "g1", "20"), ("grant", "g2", "5"), ("charge", "e1", "-3"), ("charge", "e2", "-4.5"),
            ("void", "g2", "-5"), ("charge", "f1", "-30"), ("grant", "g3", "10"), ("debt_settlement", "g3", "0"),
        ]  # fmt: skip
        assert entries[-1]["detail"].keys() == {"settled"} and Decimal(entries[-1]["detail"]["settled"]) == 10
        assert [e["seq"] for e in entries] == list(range(1, 9))
        running = Decimal(0)
        for e in entries:
            running += Decimal(e["amount"])
            assert Decimal(e["balance"]) == running, e
        assert running == Decimal("-7.5")
        state = await balance(api, "c1")
        assert Decimal(state["balance"]) == running and Decimal(state["debt"]) == Decimal("7.5")

        pages = []
        params: dict[str, object] = {"limit": 2}
        while True:
            page = (await api.get("/v1/customers/c1/ledger", params=params)).json()
            pages.append([e["seq"] for e in page["entries"]])
            if page["next_cursor"] is None:
                break
            params = {"limit": 2, "cursor": page["next_cursor"]}
        assert pages == [[1, 2], [3, 4], [5, 6], [7, 8]]
        assert await ledger(api, "c1", limit=2) == entries

        for params in ({"cursor": "nonsense"}, {"cursor": "WyJ4Il0"}, {"limit": 0}, {"limit": 501}):
            bad = await api.get("/v1/customers/c1/ledger", params=params)
            assert bad.status_code == 400, params
        assert (await api.get("/v1/customers/c1/ledger", params={"cursor": "x"})).json()["error"][
            "code"
        ] == "invalid_cursor"

    async with stack.client(other["api_key"]) as api:
        hidden = await api.get("/v1/customers/c1/ledger")
        assert hidden.status_code == 404 and hidden.json()["error"]["code"] == "customer_not_found"


async def test_a_balance_crossing_a_threshold_alerts_once_until_it_rises_above_again(stack: Stack) -> None:
    tenant = await stack.create_tenant()
    other = await stack.create_tenant("other")
    async with stack.client(tenant["api_key"]) as api:
        assert (await api.put("/v1/burn-tables/default", json=TABLE)).status_code == 200
        bad = await api.put("/v1/customers/c1", json={"alert_thresholds": ["ten"]})
        assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_alert_thresholds"
        put = await api.put("/v1/customers/c1", json={"alert_thresholds": ["0", 10, "10.0"]})
        assert put.status_code == 200, put.text
        assert put.json()["alert_thresholds"] == ["10", "0"]
        assert (await api.get("/v1/customers/c1")).json()["alert_thresholds"] == ["10", "0"]
        assert (await api.get("/v1/customers/c1/alerts")).json()["alerts"] == []

        assert (
            await api.post("/v1/customers/c1/grants", json={"id": "g1", "amount": "15"})
        ).status_code == 201
        await charge(api, "c1", 3, 4, 5, 4)  # 15 -> 12 -> 8 (crosses 10) -> 3 -> -1 (crosses 0)
        assert (
            await api.post("/v1/customers/c1/grants", json={"id": "g2", "amount": "20"})
        ).status_code == 201
        await charge(api, "c1", 10, prefix="f")  # 19 -> 9: crosses 10 again

        async def three() -> list | None:  # type: ignore[type-arg]
            found = (await api.get("/v1/customers/c1/alerts")).json()["alerts"]
            return found if len(found) >= 3 else None

        alerts = await eventually(three, what="three alerts")
        assert [(a["type"], a["threshold"], a["balance"]) for a in alerts] == [
            ("balance.threshold_crossed", "10", "8"),
            ("balance.threshold_crossed", "0", "-1"),
            ("balance.threshold_crossed", "10", "9"),
        ]
        entries = {e["seq"]: e for e in await ledger(api, "c1")}
        for a in alerts:  # each alert names the ledger entry that crossed it
            assert entries[a["ledger_seq"]]["balance"] == a["balance"] and a["alert_id"].startswith("alr_")
        assert [entries[a["ledger_seq"]]["reference"] for a in alerts] == ["e2", "e4", "f1"]

        first = (await api.get("/v1/customers/c1/alerts", params={"limit": 2})).json()
        assert first["alerts"] == alerts[:2]
        rest = (await api.get("/v1/customers/c1/alerts", params={"cursor": first["next_cursor"]})).json()
        assert rest == {"customer": "c1", "alerts": alerts[2:], "next_cursor": None}
        bad_cursor = await api.get("/v1/customers/c1/alerts", params={"cursor": "WzFd"})
        assert bad_cursor.status_code == 400 and bad_cursor.json()["error"]["code"] == "invalid_cursor"

        (update,) = await audited(api, "customer.update", 1)
        assert update["before"] is None and update["after"]["alert_thresholds"] == ["10", "0"]

    async with stack.client(other["api_key"]) as api:
        hidden = await api.get("/v1/customers/c1/alerts")
        assert hidden.status_code == 404 and hidden.json()["error"]["code"] == "customer_not_found"
