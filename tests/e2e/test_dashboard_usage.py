"""The usage page through the real stack: usage events over several past days become credits per day by
customer (top five and the others) and by type, top customers, a customer's balance by day and
conversations per agent; every numbers table equals the charges, ledger and conversations the API
answers. Another tenant sees none of it, and signed-out visitors are sent to sign in."""

from __future__ import annotations

import asyncio
import html
import json
import re
from collections import defaultdict
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from dashboard_support import USAGE_CUSTOMERS as CUSTOMERS
from dashboard_support import owner, past_prices, person
from dashboard_support import past_usage as usage_events
from e2e_stack import Stack, eventually, stack_on_new_database
from websockets.asyncio.client import connect


@pytest.fixture(scope="module")
async def stack(service_root: Path, postgres: Any) -> AsyncIterator[Stack]:
    async with stack_on_new_database(service_root, postgres.dsn) as running:
        yield running


def _text(cell: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html.unescape(cell)).split())


def numbers(page: httpx.Response, chart: str) -> list[dict[str, str]]:
    """The "Show numbers" table under a chart: one dict per row, by column heading."""
    found = re.search(rf'data-chart="{chart}".*?<table>(.*?)</table>', page.text, re.S)
    assert found, f"no chart {chart}"
    head, body = re.search(r"<thead>(.*?)</thead>.*?<tbody>(.*?)</tbody>", found.group(1), re.S).groups()  # type: ignore[union-attr]
    columns = [_text(c) for c in re.findall(r"<th[^>]*>(.*?)</th>", head, re.S)]
    return [
        dict(
            zip(columns, [_text(c) for c in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)], strict=True)
        )
        for row in re.findall(r"<tr>(.*?)</tr>", body, re.S)
    ]


def drawn(page: httpx.Response, chart: str) -> dict[str, Any]:
    """The JSON the page's script draws a chart from."""
    found = re.search(rf'<script type="application/json" id="{chart}-data">(.*?)</script>', page.text, re.S)
    assert found, f"no data for {chart}"
    data: dict[str, Any] = json.loads(found.group(1))
    return data


def last_days(count: int) -> list[str]:
    today = datetime.now(UTC).date()
    return [(today - timedelta(days=n)).isoformat() for n in reversed(range(count))]


async def all_of(
    api: httpx.AsyncClient, path: str, key: str, *, missing_ok: bool = False
) -> list[dict[str, Any]]:
    """Every item of a paged API list (none, if `missing_ok`, for a customer not charged yet)."""
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        answer = await api.get(path, params={"limit": 500, **({"cursor": cursor} if cursor else {})})
        if missing_ok and answer.status_code == 404:
            return items
        assert answer.status_code == 200, answer.text
        items += answer.json()[key]
        cursor = answer.json()["next_cursor"]
        if not cursor:
            return items


def day_of(moment: str) -> str:
    return datetime.fromisoformat(moment).astimezone(UTC).date().isoformat()


def figure(text: str) -> Decimal:
    return Decimal(text)


async def test_signed_out_visitors_are_sent_to_sign_in_and_back(stack: Stack) -> None:
    async with person(stack) as visitor:
        answer = await visitor.get("/dashboard/usage?days=7")
        assert answer.status_code == 303
        assert answer.headers["location"] == "/login?next=%2Fdashboard%2Fusage%3Fdays%3D7"


async def test_a_new_tenant_sees_what_to_do_first(stack: Stack) -> None:
    async with owner(stack, "usage-empty@example.com") as browser:
        page = await browser.get("/dashboard/usage")
        assert page.status_code == 200
        assert "No usage in this range — send your first event:" in page.text
        assert "/v1/events" in page.text and "No customers yet" in page.text
        assert "No conversations in this range" in page.text
        assert '<a href="/dashboard/usage" aria-current="page">Usage</a>' in page.text
        assert page.headers["content-security-policy"].startswith("default-src 'self'")
        for script in re.findall(r'<script src="([^"]+)"', page.text):
            assert script.startswith("/dashboard/static/"), script  # vendored, never another site
            assert (await browser.get(script)).status_code == 200
        # A range other than 7, 30 or 90 days shows the default 30.
        odd = await browser.get("/dashboard/usage?days=1000")
        assert 'href="/dashboard/usage?days=30" aria-current="page"' in odd.text
        # The first event the empty state shows is one the API accepts as written.
        snippet = re.search(r"-d '([^']+)'", html.unescape(page.text))
        assert snippet is not None
        sent = await browser.post("/v1/events", json=json.loads(snippet.group(1)))
        assert sent.status_code == 200 and sent.json()["accepted"] == 1, sent.text


async def test_the_numbers_tables_equal_the_charges_ledger_and_conversations(stack: Stack) -> None:
    now = datetime.now(UTC)
    async with owner(stack, "usage@example.com") as api:
        prices = past_prices(now)  # in force from before the first event
        assert (await api.put("/v1/burn-tables/default", json=prices)).status_code == 200
        grant = {"id": "welcome", "amount": "100", "effective_at": (now - timedelta(days=10)).isoformat()}
        assert (await api.post("/v1/customers/cust-1/grants", json=grant)).status_code == 201
        events = usage_events(now)
        sent = await api.post("/v1/events", json={"events": events})
        assert sent.json()["accepted"] == len(events), sent.text

        async def charged() -> dict[str, list[dict[str, Any]]] | None:
            found = {
                c: await all_of(api, f"/v1/customers/{c}/charges", "charges", missing_ok=True)
                for c in CUSTOMERS
            }
            return found if sum(map(len, found.values())) == len(events) else None

        charges = await eventually(charged, what="every usage event charged")
        per_day: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
        per_type: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
        for customer, listed in charges.items():
            for c in listed:
                per_day[customer][day_of(c["event_time"])] += Decimal(c["credits"])
                per_type[c["type"]][day_of(c["event_time"])] += Decimal(c["credits"])
        totals = {c: sum(per_day[c].values(), Decimal(0)) for c in CUSTOMERS}
        ranked = sorted(CUSTOMERS, key=lambda c: (-totals[c], c))

        async def shown() -> httpx.Response | None:
            page = await api.get("/dashboard/usage?days=7")
            total = (
                sum(figure(r["Credits"]) for r in numbers(page, "top")) if "data-chart" in page.text else 0
            )
            return page if total == sum(totals.values()) else None

        page = await eventually(shown, what="the usage page to show every charge")
        days = last_days(7)

        by_customer = numbers(page, "by-customer")
        assert [r["Day (UTC)"] for r in by_customer] == days
        assert list(by_customer[0]) == ["Day (UTC)", *ranked[:5], "Other customers", "Total"]
        for row in by_customer:
            day = row["Day (UTC)"]
            for customer in ranked[:5]:
                assert figure(row[customer]) == per_day[customer][day], (day, customer)
            assert figure(row["Other customers"]) == sum(per_day[c][day] for c in ranked[5:])
            assert figure(row["Total"]) == sum(per_day[c][day] for c in CUSTOMERS)
        data = drawn(page, "by-customer")  # what the chart draws is the table's figures
        assert data["days"] == days and data["unit"] == "credits"
        assert [s["label"] for s in data["series"]] == [*ranked[:5], "Other customers"]
        assert data["series"][0]["values"] == [by_customer[i][ranked[0]] for i in range(7)]

        by_type = numbers(page, "by-type")
        assert list(by_type[0]) == ["Day (UTC)", "llm.tokens", "search", "Total"]
        for row in by_type:
            for kind in ("llm.tokens", "search"):
                assert figure(row[kind]) == per_type[kind][row["Day (UTC)"]], (row, kind)

        top = numbers(page, "top")
        assert [(r["Customer"], figure(r["Credits"])) for r in top] == [(c, totals[c]) for c in ranked]
        assert [int(r["Events"]) for r in top] == [len(charges[c]) for c in ranked]

        # The balance at the end of each day: the ledger's movements in effect by then, summed.
        balance_page = await api.get("/dashboard/usage?days=7&customer=cust-1")
        ledger = await all_of(api, "/v1/customers/cust-1/ledger", "entries")
        expected = [
            sum((Decimal(e["amount"]) for e in ledger if day_of(e["at"]) <= day), Decimal(0)) for day in days
        ]
        balance = numbers(balance_page, "balance")
        assert [r["Day (UTC)"] for r in balance] == days
        assert [figure(r["Balance"]) for r in balance] == expected
        assert expected[-1] == Decimal(100) - totals["cust-1"]

        # The customer's own page draws the same balance over its 30 days.
        detail = await api.get("/dashboard/customers/cust-1")
        shown = [r["Balance"] for r in numbers(detail, "balance")]
        assert len(shown) == 30 and [figure(b) for b in shown[-7:]] == expected
        assert (
            shown[:19] == ["\N{EN DASH}"] * 19
        )  # before the grant took effect, ten days ago, there was no balance

        # Another tenant sees none of it: its page is empty, and this tenant's customer is unknown there.
        async with owner(stack, "usage-other@example.com") as other:
            theirs = await other.get("/dashboard/usage?days=7&customer=cust-1")
            assert theirs.status_code == 200
            assert "No usage in this range" in theirs.text and "No customer “cust-1”" in theirs.text
            assert "cust-2" not in theirs.text
            assert (await other.get("/dashboard/customers/cust-1")).status_code == 404


async def test_conversations_per_day_per_agent(stack: Stack) -> None:
    async with owner(stack, "usage-chat@example.com") as api:
        assert (await api.post("/v1/customers/site/grants", json={"amount": "100"})).status_code == 201
        agents = {}
        for name in ("Support", "Sales"):
            made = await api.post(
                "/v1/agents", json={"template": "support", "name": name, "customer": "site"}
            )
            assert made.status_code == 201, made.text
            agents[name] = made.json()["agent_id"]
        for name, count in (("Support", 2), ("Sales", 1)):
            for _ in range(count):
                await converse(stack, api, agents[name])

        async def counted() -> httpx.Response | None:
            page = await api.get("/dashboard/usage?days=7")
            return page if 'data-chart="conversations"' in page.text and total(page) == 3 else None

        def total(page: httpx.Response) -> int:
            return sum(int(r["Total"]) for r in numbers(page, "conversations"))

        page = await eventually(counted, what="three conversations on the usage page")
        listed = (await api.get("/v1/conversations")).json()["conversations"]
        started = defaultdict(int)
        for c in listed:
            started[(day_of(c["started_at"]), c["agent_id"])] += 1
        rows = numbers(page, "conversations")
        assert list(rows[0]) == ["Day (UTC)", "Support", "Sales", "Total"]
        for row in rows:
            for name in ("Support", "Sales"):
                assert int(row[name]) == started[(row["Day (UTC)"], agents[name])]


async def converse(stack: Stack, api: httpx.AsyncClient, agent_id: str) -> None:
    """One conversation with the agent through the dashboard's test chat: a message and its answer."""
    issued = await api.post(f"/v1/agents/{agent_id}/test-sessions")
    assert issued.status_code == 201, issued.text
    url = f"ws://127.0.0.1:{stack.settings.gateway_port}/v1/chat?token={issued.json()['token']}"
    async with connect(url, origin=stack.url, proxy=None, open_timeout=10) as ws:  # type: ignore[arg-type]
        await ws.send('{"type": "hello"}')
        await ws.send('{"type": "send", "client_message_id": "c1", "text": "Hello"}')
        while True:
            frame = json.loads(await asyncio.wait_for(ws.recv(), 15))
            if frame["type"] == "ping":
                await ws.send('{"type": "pong"}')
            elif frame.get("role") == "assistant" and frame.get("status") == "complete":
                return
