"""Burn tables through the real stack: the API lists a tenant's tables and a table's versions to that
tenant only, and prices an event exactly as the billing fold charged it (the same version at the
event's time, the same rule, the same credits), or refuses it as `unpriced` as the fold does."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from e2e_stack import Stack, eventually, stack_on_new_database


@pytest.fixture(scope="module")
async def stack(service_root: Path, postgres: Any) -> AsyncIterator[Stack]:
    async with stack_on_new_database(service_root, postgres.dsn) as running:
        yield running


def at(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


V1 = [
    {"type": "llm.tokens", "credits_per_unit": "0.001"},
    {"type": "llm.tokens", "match": {"model": "gpt-4o", "direction": "output"}, "credits_per_unit": "0.01",
     "cost_per_unit": "0.004"},
    {"type": "llm.tokens", "match": {"model": "gpt-4o"}, "credits_per_unit": "0.005"},
    {"type": "research.completed", "credits_per_unit": "50"},
]  # fmt: skip
V2 = [
    {"type": "llm.tokens", "credits_per_unit": "0.002"},
    {"type": "llm.tokens", "match": {"model": "gpt-4o", "direction": "output"}, "credits_per_unit": "0.02"},
    {"type": "research.completed", "match": {"tier": 2}, "credits_per_unit": "75.5"},
    {"type": "research.completed", "credits_per_unit": "50"},
]  # fmt: skip


async def publish(api: httpx.AsyncClient, name: str, rules: list[Any], effective: datetime) -> None:
    answer = await api.put(f"/v1/burn-tables/{name}", json={"rules": rules, "effective_at": at(effective)})
    assert answer.status_code == 200, answer.text


async def test_a_preview_prices_every_event_exactly_as_the_fold_charged_it(stack: Stack) -> None:
    tenant = await stack.create_tenant("pricing")
    now = datetime.now(UTC)
    earlier, later = now - timedelta(days=2), now - timedelta(hours=1)
    async with stack.client(tenant["api_key"]) as api:
        await publish(api, "default", V1, now - timedelta(days=3))
        await publish(api, "default", V2, now - timedelta(days=1))
        shapes = [
            ("llm.tokens", "1532", {"model": "gpt-4o", "direction": "output"}),
            ("llm.tokens", "700", {"model": "gpt-4o", "direction": "input"}),
            ("llm.tokens", "12.5", {"model": "other"}),
            ("llm.tokens", "3", {}),
            ("research.completed", "1", {"tier": 2}),
            ("research.completed", "2", {"tier": "2"}),  # a string is not the number 2
        ]
        events = [
            {"id": f"e{i}-{when_}", "customer": "c1", "type": t, "quantity": q, "properties": p,
             "timestamp": at(moment)}
            for i, (t, q, p) in enumerate(shapes)
            for when_, moment in (("early", earlier), ("late", later))
        ]  # fmt: skip
        sent = await api.post("/v1/events", json={"events": events})
        assert sent.json()["accepted"] == len(events), sent.text

        async def charged() -> list[dict[str, Any]] | None:
            answer = await api.get("/v1/customers/c1/charges", params={"limit": 100})
            rows = answer.json()["charges"] if answer.status_code == 200 else []
            return rows if len(rows) == len(events) else None

        charges = {c["event_id"]: c for c in await eventually(charged, what="every event charged")}
        versions_used = set()
        for event in events:
            body = {k: event[k] for k in ("type", "quantity", "properties", "timestamp")}
            priced = await api.post("/v1/burn-tables/default/preview", json=body)
            assert priced.status_code == 200, priced.text
            quote, charge = priced.json(), charges[event["id"]]
            assert (quote["credits"], quote["cost"], quote["version"]) == (
                charge["credits"],
                charge["cost"],
                charge["burn_table_version"],
            ), event
            versions_used.add(quote["version"])
        assert versions_used == {1, 2}

        output = {"type": "llm.tokens", "quantity": "1532", "properties": {"model": "gpt-4o", "direction": "output"},
                  "timestamp": at(earlier)}  # fmt: skip
        quote = (await api.post("/v1/burn-tables/default/preview", json=output)).json()
        assert quote["rule"] == {"index": 1, **V1[1], "cost_per_unit": "0.004"}  # the most specific rule
        assert Decimal(quote["credits"]) == Decimal("15.32") and quote["name"] == "default"
        now_quote = (await api.post("/v1/burn-tables/default/preview", json={"type": "llm.tokens"})).json()
        assert now_quote["version"] == 2 and now_quote["credits"] == "0.002" and now_quote["cost"] is None

        # Unpriced: a type no rule names, or a time before any version: 422, as the fold dead-letters it.
        for body in (
            {"type": "video.minutes", "quantity": 2},
            {"type": "llm.tokens", "timestamp": at(now - timedelta(days=4))},
        ):
            unpriced = await api.post("/v1/burn-tables/default/preview", json=body)
            assert unpriced.status_code == 422 and unpriced.json()["error"]["code"] == "unpriced", (
                unpriced.text
            )
        refusals = {
            "negative_decimal": {"type": "llm.tokens", "quantity": "-1"},
            "unknown_field": {"type": "llm.tokens", "customer": "c1"},
            "invalid_type": {"quantity": 1},
            "invalid_timestamp": {"type": "llm.tokens", "timestamp": "yesterday"},
        }
        for code, body in refusals.items():
            refused = await api.post("/v1/burn-tables/default/preview", json=body)
            assert refused.status_code == 400 and refused.json()["error"]["code"] == code, refused.text
        missing = await api.post("/v1/burn-tables/nope/preview", json={"type": "llm.tokens"})
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "burn_table_not_found"


async def test_tables_and_versions_are_listed_to_their_own_tenant_only(stack: Stack) -> None:
    owner, other = await stack.create_tenant("owner"), await stack.create_tenant("other")
    now = datetime.now(UTC)
    async with stack.client(owner["api_key"]) as api, stack.client(other["api_key"]) as stranger:
        await publish(api, "default", V1, now - timedelta(minutes=5))
        await publish(api, "default", V2, now - timedelta(minutes=1))
        await publish(api, "outcomes", V1[3:], now + timedelta(days=1))
        listed = (await api.get("/v1/burn-tables")).json()
        assert [(t["name"], t["version"], t["rule_count"]) for t in listed["burn_tables"]] == [
            ("default", 2, 4),
            ("outcomes", 1, 1),
        ]
        assert listed["next_cursor"] is None
        first = (await api.get("/v1/burn-tables", params={"limit": 1})).json()
        second = (
            await api.get("/v1/burn-tables", params={"limit": 1, "cursor": first["next_cursor"]})
        ).json()
        assert [t["name"] for t in first["burn_tables"] + second["burn_tables"]] == ["default", "outcomes"]
        assert second["next_cursor"] is None

        versions = (await api.get("/v1/burn-tables/default/versions", params={"limit": 1})).json()
        assert [v["version"] for v in versions["versions"]] == [2] and versions["next_cursor"] == "2"
        older = await api.get("/v1/burn-tables/default/versions", params={"cursor": versions["next_cursor"]})
        assert [v["version"] for v in older.json()["versions"]] == [1]
        assert older.json()["versions"][0]["rules"][1]["match"] == {"model": "gpt-4o", "direction": "output"}
        assert older.json()["versions"][0]["published_by"] == f"key:{owner['key_id']}"

        assert (await stranger.get("/v1/burn-tables")).json()["burn_tables"] == []
        for path in ("/v1/burn-tables/default/versions", "/v1/burn-tables/default"):
            answer = await stranger.get(path)
            assert answer.status_code == 404 and answer.json()["error"]["code"] == "burn_table_not_found"
        peek = await stranger.post("/v1/burn-tables/outcomes/preview", json={"type": "research.completed"})
        assert peek.status_code == 404
