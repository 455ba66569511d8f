"""The README's five-minute path, through the real gateway, broker, worker and database."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from e2e_stack import Stack, eventually, start_stack
from websockets.asyncio.client import connect

RULES = {
    "rules": [
        {
            "type": "llm.tokens",
            "match": {"model": "gpt-4o", "direction": "output"},
            "credits_per_unit": "0.01",
        },
        {"type": "llm.tokens", "credits_per_unit": "0.001"},
        {"type": "research.completed", "credits_per_unit": "50"},
    ]
}


async def test_grant_usage_and_balance_move_together(stack: Stack) -> None:
    tenant = await stack.create_tenant()
    async with stack.client(tenant["api_key"]) as api:
        published = await api.put("/v1/burn-tables/default", json=RULES)
        assert published.status_code == 200, published.text
        assert published.json()["version"] == 1

        granted = await api.post("/v1/customers/cust_1/grants", json={"amount": "1000", "id": "g1"})
        assert granted.status_code == 201, granted.text
        # Read-your-writes: the grant is in the balance as soon as the write answered.
        assert (await api.get("/v1/customers/cust_1/balance")).json()["balance"] == "1000"

        sent = await api.post(
            "/v1/events",
            json={
                "events": [
                    {
                        "id": "e1",
                        "customer": "cust_1",
                        "type": "llm.tokens",
                        "quantity": 1532,
                        "properties": {"model": "gpt-4o", "direction": "output"},
                    },
                    {
                        "id": "e2",
                        "customer": "cust_1",
                        "type": "llm.tokens",
                        "quantity": "1000",
                        "properties": {"model": "gpt-4o", "direction": "input"},
                    },
                    {"id": "e3", "customer": "cust_1", "type": "research.completed"},
                ]
            },
        )
        assert sent.status_code == 200, sent.text
        assert sent.json()["accepted"] == 3

        async def balance() -> str | None:
            body = (await api.get("/v1/customers/cust_1/balance")).json()
            return body["balance"] if body["balance"] != "1000" and len(await _charges(api)) == 3 else None

        # 1000 - 15.32 - 1 - 50
        assert await eventually(balance, timeout=10, what="three charges") == "933.68"
        charges = await _charges(api)
        # Same event time (the gateway's now), so newest-first falls back to event id, descending.
        assert [c["event_id"] for c in charges] == ["e3", "e2", "e1"]
        by_id = {c["event_id"]: c for c in charges}
        assert Decimal(by_id["e1"]["credits"]) == Decimal("15.32")
        assert by_id["e1"]["burn_table"] == "default" and by_id["e1"]["burn_table_version"] == 1

        # The same ids again change nothing.
        again = await api.post(
            "/v1/events", json={"events": [{"id": "e3", "customer": "cust_1", "type": "research.completed"}]}
        )
        assert again.json()["accepted"] == 1
        grant_again = await api.post("/v1/customers/cust_1/grants", json={"amount": "1000", "id": "g1"})
        assert grant_again.status_code == 200
        marker = await api.post("/v1/customers/cust_1/grants", json={"amount": "1", "id": "g2"})
        assert marker.status_code == 201
        # g2 was produced after e3's duplicate on the same partition, so it was applied after it.
        assert (await api.get("/v1/customers/cust_1/balance")).json()["balance"] == "934.68"


# Step 4's table as the README publishes it, and step 6's agent.
README_TABLE = {
    "rules": [
        {"type": "llm.tokens", "match": {"model": "gpt-4o"}, "credits_per_unit": "0.01"},
        {"type": "llm.tokens", "credits_per_unit": "0.001"},
        {"type": "research.completed", "credits_per_unit": "50"},
    ]
}
README_AGENT = {
    "name": "Helper",
    "template": "support",
    "customer": "cust_1",
    "allowed_domains": ["localhost"],
    "branding": {"title": "Acme help", "primary_color": "#0055ff"},
}


async def test_a_widget_chat_on_the_quick_start_agent_is_charged_by_the_quick_start_table(
    stack: Stack,
) -> None:
    tenant = await stack.create_tenant()
    async with stack.client(tenant["api_key"]) as api:
        assert (await api.put("/v1/burn-tables/default", json=README_TABLE)).status_code == 200
        assert (await api.post("/v1/customers/cust_1/grants", json={"amount": "1000"})).status_code == 201
        created = await api.post("/v1/agents", json=README_AGENT)
        assert created.status_code == 201, created.text
        agent_id = created.json()["agent_id"]

        page = "http://localhost:8000"  # `python3 -m http.server` serving the README's snippet
        async with httpx.AsyncClient(base_url=stack.url) as http:
            session = await http.post(
                "/v1/widget/sessions", json={"agent_id": agent_id}, headers={"Origin": page}
            )
        assert session.status_code == 201, session.text
        url = f"ws://127.0.0.1:{stack.settings.gateway_port}/v1/chat?token={session.json()['token']}"
        async with connect(url, origin=page, proxy=None) as ws:  # type: ignore[arg-type]
            await ws.send(orjson.dumps({"type": "hello"}).decode())
            ready = orjson.loads(await ws.recv())
            await ws.send(orjson.dumps({"type": "send", "client_message_id": "m1", "text": "Hello"}).decode())
            reply: dict[str, Any] = {}
            while reply.get("role") != "assistant":
                reply = orjson.loads(await ws.recv())
        assert reply["status"] == "complete" and reply["model"].startswith("offline/"), reply

        async def charged() -> list[dict[str, Any]] | None:
            found = [c for c in await _charges(api) if c["type"] == "llm.tokens"]
            return found if len(found) == 2 else None

        tokens = await eventually(charged, timeout=30, what="the reply's two token charges")
        assert {c["event_id"] for c in tokens} == {
            f"{ready['conversation_id']}:2:{d}" for d in ("input", "output")
        }
        for c in tokens:
            assert Decimal(c["credits"]) == Decimal(c["quantity"]) * Decimal("0.001")


async def _charges(api) -> list[dict]:  # type: ignore[no-untyped-def]
    response = await api.get("/v1/customers/cust_1/charges")
    return response.json()["charges"] if response.status_code == 200 else []


async def test_keys_are_checked_and_tenants_see_only_their_own_data(stack: Stack) -> None:
    acme = await stack.create_tenant("acme")
    other = await stack.create_tenant("other")
    async with stack.client(acme["api_key"]) as api:
        assert (await api.post("/v1/customers/c/grants", json={"amount": "5"})).status_code == 201
    async with stack.client(None) as anonymous:
        missing = await anonymous.get("/v1/customers/c/balance")
        assert missing.status_code == 401 and missing.json()["error"]["code"] == "missing_api_key"
    async with stack.client("not-a-key") as bad:
        malformed = await bad.get("/v1/customers/c/balance")
        assert malformed.status_code == 401 and malformed.json()["error"]["code"] == "malformed_api_key"
    async with stack.client("rk_" + "A" * 43) as unknown:
        assert (await unknown.get("/v1/customers/c/balance")).json()["error"]["code"] == "invalid_api_key"
    async with stack.client(other["api_key"]) as api:
        for path in ("/v1/customers/c/balance", "/v1/customers/c/charges", "/v1/burn-tables/default"):
            hidden = await api.get(path)
            assert hidden.status_code == 404, path
            assert "acme" not in hidden.text


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b"not json", 400, "invalid_json"),
        (b'{"evts": []}', 400, "missing_events"),
        (b'{"events": {}}', 400, "missing_events"),
    ],
)
async def test_malformed_event_requests_get_json_errors(
    stack: Stack, body: bytes, status: int, code: str
) -> None:
    tenant = await stack.create_tenant()
    async with stack.client(tenant["api_key"]) as api:
        response = await api.post("/v1/events", content=body)
        assert response.status_code == status
        assert response.json()["error"]["code"] == code


async def test_limits_and_per_event_rejections(stack: Stack) -> None:
    tenant = await stack.create_tenant()
    async with stack.client(tenant["api_key"]) as api:
        too_many = {"events": [{"id": str(i), "customer": "c", "type": "t"} for i in range(1001)]}
        response = await api.post("/v1/events", json=too_many)
        assert response.status_code == 413 and response.json()["error"]["code"] == "too_many_events"
        huge = b'{"events": [], "pad": "' + b"x" * (1 << 20) + b'"}'
        response = await api.post("/v1/events", content=huge)
        assert response.status_code == 413 and response.json()["error"]["code"] == "body_too_large"

        mixed = {
            "events": [
                {"id": "ok", "customer": "c", "type": "t"},
                {"id": "neg", "customer": "c", "type": "t", "quantity": "-2"},
                {"id": "nan", "customer": "c", "type": "t", "quantity": "lots"},
                {"id": "old", "customer": "c", "type": "t", "timestamp": "2020-01-01T00:00:00Z"},
                {"id": "nested", "customer": "c", "type": "t", "properties": {"a": {"b": 1}}},
                {"id": "extra", "customer": "c", "type": "t", "colour": "red"},
                {"customer": "c", "type": "t"},
            ]
        }
        body = (await api.post("/v1/events", json=mixed)).json()
        assert body["accepted"] == 1 and body["rejected"] == 6
        codes = [r.get("code") for r in body["results"]]
        assert codes == [
            None,
            "negative_decimal",
            "invalid_decimal",
            "timestamp_out_of_window",
            "invalid_properties",
            "unknown_field",
            "invalid_id",
        ]

        # Every rejection is also a dead letter, with its code.
        assert stack.pool is not None

        async def dead_codes() -> list[str] | None:
            rows = await stack.pool.fetch(  # type: ignore[union-attr]
                "SELECT code FROM dead_letters WHERE tenant_id = $1 AND stage = 'gateway.ingest'",
                tenant["tenant_id"],
            )
            return sorted(r["code"] for r in rows) if len(rows) == 6 else None

        assert await eventually(dead_codes, what="six dead letters") == sorted(c for c in codes if c)


async def test_broker_down_answers_503_with_retry_after_when_acks_rest_on_the_broker(
    service_root: Path, database: str
) -> None:
    stack = await start_stack(service_root, database, outbox=False)
    try:
        tenant = await stack.create_tenant()
        assert stack.broker is not None
        stack.broker.stop()
        async with stack.client(tenant["api_key"]) as api:
            response = await api.post(
                "/v1/events", json={"events": [{"id": "x", "customer": "c", "type": "t"}]}
            )
        assert response.status_code == 503
        assert response.headers["retry-after"]
        assert response.json()["error"]["code"] == "broker_unavailable"
    finally:
        await stack.stop()


async def test_without_the_outbox_a_write_and_its_audit_entry_both_land(
    service_root: Path, database: str
) -> None:
    """The gateway sends the audit entry first (pipeline/audit_topic.AuditFirst), then the write."""
    stack = await start_stack(service_root, database, outbox=False)
    try:
        tenant = await stack.create_tenant()
        async with stack.client(tenant["api_key"]) as api:
            granted = await api.post("/v1/customers/c1/grants", json={"amount": "10", "id": "g1"})
            assert granted.status_code == 201, granted.text

            async def grant_entry() -> list[dict[str, Any]] | None:
                found = (await api.get("/v1/audit", params={"action": "grant.create"})).json()["entries"]
                return found or None

            entries = await eventually(grant_entry, what="the grant's audit entry")
        assert [e["target"] for e in entries] == ["customer:c1/grant:g1"]
    finally:
        await stack.stop()
