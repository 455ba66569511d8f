"""Exports of the charges, the ledger and the usage rollups end to end: every row of the tenant's range and
no other tenant's, CSV safe from formulas, JSON lines one object a line, and the body streamed."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import orjson
from e2e_stack import Stack
from usage_data import event, send_charged, void

from pipeline.money import format_decimal

FORMULA = "=HYPERLINK(1)"
RULES = [
    {"type": "t", "credits_per_unit": "1.5", "cost_per_unit": "0.25"},
    {"type": "+cmd", "match": {"note": "-2+3"}, "credits_per_unit": "3"},
    {"type": "+cmd", "credits_per_unit": "2"},
]


def table() -> dict[str, Any]:
    """The burn table, in force since before the oldest event the tests send."""
    return {"rules": RULES, "effective_at": (datetime.now(UTC) - timedelta(days=20)).isoformat()}


async def export(api: httpx.AsyncClient, what: str, fmt: str, **params: str) -> httpx.Response:
    got = await api.get(f"/v1/{what}/export", params={"format": fmt, **params})
    assert got.status_code == 200, got.text
    return got


def csv_rows(answer: httpx.Response) -> list[dict[str, str]]:
    assert answer.headers["content-type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(answer.text)))


def jsonl_rows(answer: httpx.Response) -> list[dict[str, Any]]:
    assert answer.headers["content-type"].startswith("application/jsonl")
    assert answer.text == "" or answer.text.endswith("\n")
    return [orjson.loads(line) for line in answer.text.splitlines()]


async def test_exports_hold_the_tenants_rows_exactly(stack: Stack) -> None:
    tenant = await stack.create_tenant()
    other = await stack.create_tenant("other")
    assert stack.pool is not None
    now = datetime.now(UTC)
    events = [
        event(f"e{i}", ("c1", FORMULA)[i % 2], "t", f"{i}.125", now - timedelta(hours=5 * i + 1))
        for i in range(1, 21)
    ]
    events.append(event("f1", FORMULA, "+cmd", "2", now - timedelta(hours=2), note="-2+3"))
    async with stack.client(tenant["api_key"]) as api:
        assert (await api.put("/v1/burn-tables/default", json=table())).status_code == 200
        for customer in ("c1", FORMULA):
            granted = await api.post(f"/v1/customers/{customer}/grants", json={"id": "g1", "amount": "1000"})
            assert granted.status_code == 201, granted.text
        await send_charged(api, stack.pool, tenant["tenant_id"], events)
        await void(api, "e3")
        tid = tenant["tenant_id"]

        # Charges: every one in the range, voided ones too (with their status), in customer and time order.
        since, until = now - timedelta(days=3), now - timedelta(hours=1)
        charges = await stack.pool.fetch(
            "SELECT * FROM charges WHERE tenant_id = $1 AND event_time >= $2 AND event_time < $3 "
            "ORDER BY customer, event_time, event_id",
            tid, since, until,
        )  # fmt: skip
        assert 10 < len(charges) < len(events)
        range_ = {"since": since.isoformat(), "until": until.isoformat()}
        lines = jsonl_rows(await export(api, "charges", "jsonl", **range_))
        assert [r["event_id"] for r in lines] == [c["event_id"] for c in charges]
        for line, charge in zip(lines, charges, strict=True):
            assert Decimal(line["credits"]) == charge["credits"] and isinstance(line["credits"], str)
            assert (line["quantity"], line["status"]) == (
                format_decimal(charge["quantity"]),
                charge["status"],
            )
            assert line["properties"] == orjson.loads(charge["properties"])
            assert datetime.fromisoformat(line["event_time"]) == charge["event_time"]
        assert {r["status"] for r in lines if r["event_id"] == "e3"} == {"voided"}
        one = jsonl_rows(await export(api, "charges", "jsonl", customer="c1"))
        assert {r["customer"] for r in one} == {"c1"} and len(one) == 10

        # A formula from a caller reaches a spreadsheet as text.
        cells = csv_rows(await export(api, "charges", "csv", customer=FORMULA))
        assert len(cells) == 11
        assert {c["customer"] for c in cells} == {"'" + FORMULA}
        assert {c["type"] for c in cells} == {"t", "'+cmd"}
        (cmd,) = [c for c in cells if c["event_id"] == "f1"]
        assert orjson.loads(cmd["properties"]) == {"note": "-2+3"} and cmd["credits"] == "6"
        assert not any(v.startswith(("=", "+", "-", "@")) for c in cells for v in c.values())

        # The ledger: grants, charges and the void's correction, exactly as ledger_entries holds them.
        entries = await stack.pool.fetch(
            "SELECT * FROM ledger_entries WHERE tenant_id = $1 ORDER BY customer, seq", tid
        )
        ledger = jsonl_rows(await export(api, "ledger", "jsonl"))
        assert [
            (r["customer"], r["seq"], r["kind"], Decimal(r["amount"]), Decimal(r["balance"])) for r in ledger
        ] == [(e["customer"], e["seq"], e["kind"], e["amount"], e["balance"]) for e in entries]
        assert "correction" in {r["kind"] for r in ledger}
        ledger_csv = csv_rows(await export(api, "ledger", "csv", customer="c1"))
        assert [int(r["seq"]) for r in ledger_csv] == [e["seq"] for e in entries if e["customer"] == "c1"]

        # Usage rollups per hour and per day, as the tables hold them (voided usage left out).
        for window, rollup, column in (("hour", "usage_hourly", "hour"), ("day", "usage_daily", "day")):
            held = await stack.pool.fetch(
                f"SELECT * FROM {rollup} WHERE tenant_id = $1 AND events > 0 ORDER BY {column}, customer, type",
                tid,
            )
            rows = jsonl_rows(await export(api, "usage", "jsonl", window=window))
            assert [(r["customer"], r["type"], r["events"], Decimal(r["credits"])) for r in rows] == [
                (h["customer"], h["type"], h["events"], h["credits"]) for h in held
            ]
            assert sum(r["events"] for r in rows) == len(events) - 1
            in_csv = csv_rows(await export(api, "usage", "csv", window=window, customer=FORMULA))
            assert {r["customer"] for r in in_csv} == {"'" + FORMULA}
        bad = await api.get("/v1/usage/export", params={"window": "month"})
        assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_window"
        bad = await api.get("/v1/charges/export", params={"format": "xml"})
        assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_format"

    async with stack.client(other["api_key"]) as api:  # tenant B exports none of A's rows
        for what in ("charges", "ledger", "usage"):
            assert jsonl_rows(await export(api, what, "jsonl")) == []
            assert csv_rows(await export(api, what, "csv")) == []
            assert (await export(api, what, "json")).json() == []
            assert jsonl_rows(await export(api, what, "jsonl", customer="c1")) == []


async def test_an_export_of_thousands_of_rows_is_streamed(stack: Stack) -> None:
    tenant = await stack.create_tenant()
    assert stack.pool is not None
    now = datetime.now(UTC)
    events = [event(f"e{i}", f"c{i % 50}", "t", "1", now - timedelta(minutes=i)) for i in range(3500)]
    async with stack.client(tenant["api_key"]) as api:
        assert (await api.put("/v1/burn-tables/default", json=table())).status_code == 200
        await send_charged(api, stack.pool, tenant["tenant_id"], events)
        async with api.stream("GET", "/v1/charges/export", params={"format": "csv"}) as answer:
            assert answer.status_code == 200
            assert (
                answer.headers.get("transfer-encoding") == "chunked"
                and "content-length" not in answer.headers
            )
            chunks = [chunk async for chunk in answer.aiter_raw()]
        assert len(chunks) > 1
        rows = list(csv.DictReader(io.StringIO(b"".join(chunks).decode())))
        assert len(rows) == len(events) and len({r["event_id"] for r in rows}) == len(events)
