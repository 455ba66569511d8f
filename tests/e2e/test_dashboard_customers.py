"""The dashboard's billing pages through the real stack: the customers list (empty, searched, paged), one
customer's balance, grants, entitlements, ledger, charges, alerts and settings, exactly as the API holds
them; another tenant's customer is a 404 like a missing one, and signed-out visitors are sent to sign in."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from dashboard_support import owner, person
from e2e_stack import Stack, eventually, stack_on_new_database


@pytest.fixture(scope="module")
async def stack(service_root: Path, postgres: Any) -> AsyncIterator[Stack]:
    async with stack_on_new_database(service_root, postgres.dsn) as running:
        yield running


def links(page: httpx.Response, label: str) -> list[str]:
    return [html.unescape(h) for h in re.findall(rf'<a href="([^"]+)">{re.escape(label)}</a>', page.text)]


def rows(page: httpx.Response, section: str) -> list[str]:
    """The body rows of a section's table, as text without tags."""
    found = re.search(rf'<h2 id="{section}".*?</section>', page.text, re.S)
    assert found, f"no section {section}"
    body = re.search(r"<tbody>(.*?)</tbody>", found.group(0), re.S)
    cells = re.findall(r"<tr>(.*?)</tr>", body.group(1), re.S) if body else []
    return [" ".join(re.sub(r"<[^>]+>", " ", html.unescape(c)).split()) for c in cells]


async def test_signed_out_visitors_are_sent_to_sign_in_and_back(stack: Stack) -> None:
    async with person(stack) as visitor:
        for path, back in (("/dashboard/customers", "%2Fdashboard%2Fcustomers"),
                           ("/dashboard/customers/c1", "%2Fdashboard%2Fcustomers%2Fc1")):  # fmt: skip
            answer = await visitor.get(path)
            assert answer.status_code == 303 and answer.headers["location"] == f"/login?next={back}"


async def test_a_new_tenant_sees_how_customers_appear_and_may_add_one(stack: Stack) -> None:
    async with owner(stack, "empty@example.com") as browser:
        page = await browser.get("/dashboard/customers")
        assert page.status_code == 200
        assert "No customers yet" in page.text and "as soon as its first usage event is charged" in page.text
        assert (
            'data-api="PUT /v1/customers/{customer}"' in page.text and ">Add customer</button>" in page.text
        )
        assert page.headers["content-security-policy"].startswith("default-src 'self'")

        added = await browser.put("/v1/customers/first", json={})  # what the "Add customer" form sends
        assert added.status_code == 200, added.text
        listed = await browser.get("/dashboard/customers")
        assert rows(listed, "customers-title")[0].startswith("first 0 0 default")
        shown = await browser.get("/dashboard/customers/first")
        assert shown.status_code == 200
        for empty in ("No grants yet", "No entitlements", "No movements yet", "No charges yet", "No alerts"):
            assert empty in shown.text, empty


async def test_a_customers_credits_entitlements_and_settings_are_shown_as_the_api_holds_them(
    stack: Stack,
) -> None:
    expires = (datetime.now(UTC) + timedelta(days=30)).isoformat()
    async with owner(stack, "billing@example.com") as api:
        rules = {"rules": [{"type": "t", "credits_per_unit": "0.5"}]}
        assert (await api.put("/v1/burn-tables/default", json=rules)).status_code == 200
        for grant in ({"id": "g1", "amount": "12.123456789", "reason": "welcome"},
                      {"id": "g2", "amount": "5", "priority": 2, "expires_at": expires}):  # fmt: skip
            assert (await api.post("/v1/customers/cust-1/grants", json=grant)).status_code == 201
        settings = {"alert_thresholds": ["17"], "credit_limit": "2.5"}
        assert (await api.put("/v1/customers/cust-1", json=settings)).status_code == 200
        entitled = await api.put(
            "/v1/customers/cust-1/entitlements/premium", json={"kind": "boolean", "enabled": True}
        )
        assert entitled.status_code == 200, entitled.text
        assert (await api.put("/v1/customers/other-1", json={})).status_code == 200
        event = {"id": "e1", "customer": "cust-1", "type": "t", "quantity": 2}
        assert (await api.post("/v1/events", json={"events": [event]})).json()["accepted"] == 1

        async def charged() -> httpx.Response | None:
            # The page reads its sections one after the other: wait for one that shows the charge in both.
            page = await api.get("/dashboard/customers/cust-1")
            return page if "No charges yet" not in page.text and len(rows(page, "ledger")) == 3 else None

        page = await eventually(charged, what="the charge on the customer's page")
        # g2 (priority 2) pays the 1 credit; the balance is exact to the ninth decimal.
        assert re.search(r"<dt>Balance</dt><dd[^>]*>16.123456789</dd>", page.text)
        assert re.search(r"<dt>Credit limit</dt><dd>2.5</dd>", page.text)
        g2, g1 = rows(page, "grants-title")
        effective = r"from \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC"
        assert re.fullmatch(rf"g2 {effective} 5 4 2 {_expiry(expires)} active Void grant g2", g2), g2
        assert re.fullmatch(
            rf"g1 {effective} 12.123456789 12.123456789 0 Never welcome active Void grant g1", g1
        ), g1
        assert rows(page, "entitlements-title")[0].startswith("premium boolean Enabled")
        ledger = rows(page, "ledger")
        assert [r.split(" UTC ")[1] for r in ledger] == [
            "charge -1 16.123456789 e1", "grant 5 17.123456789 g2", "grant 12.123456789 12.123456789 g1"
        ]  # fmt: skip
        assert rows(page, "charges")[0].endswith("e1 t 2 1 default v1")
        assert rows(page, "alerts")[0].split(" UTC ")[1] == "17 16.123456789 3"
        assert (
            '<textarea id="set-thresholds" name="alert_thresholds"' in page.text
            and ">17</textarea>" in page.text
        )
        assert 'data-api="PUT /v1/customers/cust-1/entitlements/{feature}"' in page.text

        listed = await api.get("/dashboard/customers")
        assert [r.split(" ")[:4] for r in rows(listed, "customers-title")] == [
            ["cust-1", "16.123456789", "0", "default"], ["other-1", "0", "0", "default"]
        ]  # fmt: skip
        searched = await api.get("/dashboard/customers", params={"prefix": "other"})
        assert [r.split(" ")[0] for r in rows(searched, "customers-title")] == ["other-1"]
        nothing = await api.get("/dashboard/customers", params={"prefix": "zzz"})
        assert "No customer ID starts with “zzz”" in nothing.text

        voided = await api.post("/v1/customers/cust-1/grants/g2/void", json={})
        assert voided.status_code == 200, voided.text
        page = await api.get("/dashboard/customers/cust-1")
        assert "voided" in rows(page, "grants-title")[0] and "Void grant g2" not in page.text
        assert re.search(r"<dt>Balance</dt><dd[^>]*>12.123456789</dd>", page.text)

        assert (await api.get("/dashboard/customers/nobody")).status_code == 404

    async with owner(stack, "neighbour@example.com") as other:
        for path in ("/dashboard/customers/cust-1", "/dashboard/customers/other-1"):
            answer = await other.get(path)
            assert answer.status_code == 404 and "No such customer" in answer.text, path
        assert "No customers yet" in (await other.get("/dashboard/customers")).text
        assert (await other.get("/v1/customers")).json()["customers"] == []


async def test_long_lists_come_in_pages(stack: Stack) -> None:
    async with owner(stack, "pages@example.com") as api:
        rules = {"rules": [{"type": "t", "credits_per_unit": "1"}]}
        assert (await api.put("/v1/burn-tables/default", json=rules)).status_code == 200
        many = [{"id": f"m{i}", "customer": f"p-{i:02}", "type": "t"} for i in range(51)]
        busy = [{"id": f"b{i}", "customer": "busy", "type": "t", "quantity": i + 1} for i in range(30)]
        assert (await api.post("/v1/events", json={"events": many + busy})).json()["accepted"] == 81

        async def all_listed() -> bool:
            found = (await api.get("/v1/customers", params={"limit": 100})).json()["customers"]
            return len(found) == 52 and next(c for c in found if c["customer"] == "busy")["debt"] == "465"

        await eventually(all_listed, what="every charge applied")
        first = await api.get("/dashboard/customers", params={"prefix": "p-"})
        assert [r.split(" ")[0] for r in rows(first, "customers-title")] == [f"p-{i:02}" for i in range(50)]
        (following,) = links(first, "Next page")
        second = await api.get(following)
        assert [r.split(" ")[0] for r in rows(second, "customers-title")] == ["p-50"]
        assert links(second, "Next page") == [] and links(second, "First page") == [
            "/dashboard/customers?prefix=p-"
        ]

        page = await api.get("/dashboard/customers/busy")
        ledger = rows(page, "ledger")
        assert [int(r.split(" ")[0]) for r in ledger] == list(range(30, 5, -1))  # the newest 25, newest first
        assert links(page, "Newer entries") == []
        (older,) = links(page, "Older entries")
        page = await api.get(older)
        assert [int(r.split(" ")[0]) for r in rows(page, "ledger")] == [5, 4, 3, 2, 1]
        assert links(page, "Newer entries") == ["/dashboard/customers/busy?ledger=30#ledger"]

        charges = rows(page, "charges")
        assert len(charges) == 25
        (older,) = links(page, "Older charges")
        page = await api.get(older)
        assert len(rows(page, "charges")) == 5 and links(page, "Newest charges") == [
            "/dashboard/customers/busy#charges"
        ]
        tampered = await api.get(
            "/dashboard/customers/busy", params={"charges": "not-a-cursor", "ledger": "x"}
        )
        assert tampered.status_code == 200 and len(rows(tampered, "charges")) == 25


def _expiry(iso: str) -> str:
    return datetime.fromisoformat(iso).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
