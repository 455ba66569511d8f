"""Voiding and amending charged usage end to end: exact refunds, re-pricing at the original price, audit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from credits_api import audited, balance, charge, ledger, ledger_with
from e2e_stack import Stack


def table(price: str, **extra: Any) -> dict[str, Any]:
    rules = [
        {"type": "t", "credits_per_unit": price},
        {"type": "m", "match": {"model": "big"}, "credits_per_unit": "7"},
    ]
    return {"rules": rules, **extra}


async def test_voids_and_amends_move_exactly_the_difference_once(stack: Stack) -> None:
    tenant = await stack.create_tenant()
    other = await stack.create_tenant("other")
    async with stack.client(tenant["api_key"]) as api:
        assert (await api.put("/v1/burn-tables/default", json=table("2"))).status_code == 200
        assert (
            await api.post("/v1/customers/c1/grants", json={"id": "g1", "amount": "100"})
        ).status_code == 201
        await charge(api, "c1", 5, 3)  # e1: 10 credits, e2: 6
        big = {"id": "m1", "customer": "c1", "type": "m", "quantity": 1, "properties": {"model": "big"}}
        assert (await api.post("/v1/events", json={"events": [big]})).json()["accepted"] == 1
        await ledger_with(api, "c1", 4)
        assert Decimal((await balance(api, "c1"))["balance"]) == 77

    async with stack.client(other["api_key"]) as api:  # another tenant's events do not exist for it
        for path, body in (("/v1/events/e1/void", None), ("/v1/events/e1/amend", {"quantity": 1})):
            hidden = await api.post(path, json=body)
            assert hidden.status_code == 404 and hidden.json()["error"]["code"] == "event_not_found", path

    async with stack.client(tenant["api_key"]) as api:
        voided = await api.post("/v1/events/e1/void", json={"reason": "duplicate"})
        assert voided.status_code == 200, voided.text
        body = voided.json()
        correction_id = body["correction_id"]
        assert correction_id.startswith("cor_")
        assert {k: body[k] for k in ("event_id", "status", "credits_before", "credits_after")} == {
            "event_id": "e1", "status": "applied", "credits_before": "10", "credits_after": "0"
        }  # fmt: skip
        charged = body["charge"]
        assert (charged["status"], charged["credits"], charged["quantity"], charged["customer"]) == (
            "voided", "0", "5", "c1"
        )  # fmt: skip
        assert charged["original"]["credits"] is not None and Decimal(charged["original"]["credits"]) == 10
        assert Decimal((await balance(api, "c1"))["balance"]) == 87
        entries = await ledger(api, "c1")
        assert (entries[-1]["kind"], entries[-1]["amount"], entries[-1]["balance"], entries[-1]["reference"]) == (
            "correction", "10", "87", "e1"
        )  # fmt: skip
        assert entries[-1]["detail"] == {"correction_id": correction_id, "action": "void"}

        again = await api.post("/v1/events/e1/void")  # the same void replayed: nothing more to refund
        assert again.status_code == 200, again.text
        assert {k: again.json()[k] for k in ("event_id", "correction_id", "status", "credits_after")} == {
            "event_id": "e1", "correction_id": None, "status": "unchanged", "credits_after": "0"
        }  # fmt: skip
        assert again.json()["charge"] == charged
        refused = await api.post("/v1/events/e1/amend", json={"quantity": 1})
        assert refused.status_code == 409 and refused.json()["error"]["code"] == "event_voided"

        # A new version with another price, effective from before e2: amends still use e2's version 1.
        since = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
        published = await api.put("/v1/burn-tables/default", json=table("5", effective_at=since))
        assert published.json()["version"] == 2
        await charge(api, "c1", 1, prefix="f")  # f1 is priced by version 2: 5 credits
        assert Decimal((await balance(api, "c1"))["balance"]) == 82

        up = await api.post("/v1/events/e2/amend", json={"quantity": 4})
        assert up.status_code == 200, up.text
        assert (up.json()["status"], up.json()["credits_before"], up.json()["credits_after"]) == (
            "applied",
            "6",
            "8",
        )
        amended = up.json()["charge"]
        assert (amended["quantity"], amended["credits"], amended["status"], amended["burn_table_version"]) == (
            "4", "8", "amended", 1
        )  # fmt: skip
        assert Decimal((await balance(api, "c1"))["balance"]) == 80
        down = await api.post("/v1/events/e2/amend", json={"quantity": "1", "reason": "miscounted"})
        assert down.status_code == 200, down.text
        assert (down.json()["credits_before"], down.json()["credits_after"]) == ("8", "2")
        assert Decimal((await balance(api, "c1"))["balance"]) == 86
        corrections = [(e["reference"], e["amount"], e["detail"]["action"]) for e in await ledger(api, "c1")
                       if e["kind"] == "correction"]  # fmt: skip
        assert corrections == [("e1", "10", "void"), ("e2", "-2", "amend"), ("e2", "6", "amend")]

        unpriced = await api.post("/v1/events/m1/amend", json={"properties": {"model": "small"}})
        assert unpriced.status_code == 422 and unpriced.json()["error"]["code"] == "unpriced", unpriced.text
        missing = await api.post("/v1/events/nope/void")
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "event_not_found"
        assert "charged moments after" in missing.json()["error"]["message"]
        empty = await api.post("/v1/events/e2/amend", json={"reason": "nothing"})
        assert empty.status_code == 400 and empty.json()["error"]["code"] == "empty_amendment"

        # A later write's audit entry proves the replayed void and the refusals left none of their own.
        assert (
            await api.post("/v1/customers/c1/grants", json={"id": "g2", "amount": "1"})
        ).status_code == 201
        await audited(api, "grant.create", 2)
        (void_entry,) = await audited(api, "usage.void", 1)
        assert void_entry["target"] == "event:e1"
        assert void_entry["before"] == {
            "quantity": "5",
            "properties": {},
            "credits": "10",
            "status": "charged",
        }
        assert void_entry["after"] == {"status": "voided", "reason": "duplicate"}
        amends = await audited(api, "usage.amend", 3)
        assert [(a["target"], a["before"], a["after"]) for a in amends] == [
            ("event:e2", {"quantity": "3", "properties": {}, "credits": "6", "status": "charged"},
             {"quantity": "4", "properties": {}, "status": "amended", "reason": None}),
            ("event:e2", {"quantity": "4", "properties": {}, "credits": "8", "status": "amended"},
             {"quantity": "1", "properties": {}, "status": "amended", "reason": "miscounted"}),
            ("event:m1", {"quantity": "1", "properties": {"model": "big"}, "credits": "7", "status": "charged"},
             {"quantity": "1", "properties": {"model": "small"}, "status": "amended", "reason": None}),
        ]  # fmt: skip

        final = await ledger_with(api, "c1", 9)
        assert Decimal(final[-1]["balance"]) == Decimal((await balance(api, "c1"))["balance"]) == 87

    async with stack.client(other["api_key"]) as api:
        assert (await api.post("/v1/events/e2/void")).status_code == 404
    async with stack.client(tenant["api_key"]) as api:  # the 404 was answered before anything was published
        assert await ledger(api, "c1") == final


async def test_an_event_whose_id_holds_slashes_can_be_voided_and_amended(stack: Stack) -> None:
    tenant = await stack.create_tenant()
    async with stack.client(tenant["api_key"]) as api:
        assert (await api.put("/v1/burn-tables/default", json=table("2"))).status_code == 200
        assert (
            await api.post("/v1/customers/c1/grants", json={"id": "g1", "amount": "100"})
        ).status_code == 201
        events = [{"id": f"runs/{i}/tokens", "customer": "c1", "type": "t", "quantity": 5} for i in (1, 2)]
        assert (await api.post("/v1/events", json={"events": events})).json()["accepted"] == 2
        await ledger_with(api, "c1", 3)
        voided = await api.post("/v1/events/runs%2F1%2Ftokens/void")  # escaped, as a careful client sends it
        assert voided.status_code == 200, voided.text
        assert (voided.json()["event_id"], voided.json()["credits_after"]) == ("runs/1/tokens", "0")
        amended = await api.post("/v1/events/runs/2/tokens/amend", json={"quantity": 1})  # or not escaped
        assert amended.status_code == 200, amended.text
        assert (amended.json()["event_id"], amended.json()["credits_after"]) == ("runs/2/tokens", "2")
        assert Decimal((await balance(api, "c1"))["balance"]) == 98  # 100 - 10 + 10 - 10 + 8
