"""The dashboard's admin pages in Chromium, as a person uses them: create an API key and see it once, then
revoke it; read a conversation's transcript; find their own changes in the audit log; add a tool to an
agent and send it a signed test call. Screenshots at desktop and phone widths land in
artifacts/screenshots/ to be looked at."""

from __future__ import annotations

import itertools
import re
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from email.message import Message
from pathlib import Path
from typing import Any

import orjson
import pytest
from e2e_stack import Stack, eventually, stack_on_new_database
from loopback_tool import loopback_tool
from test_assistants import produce
from test_dashboard import PHONE, shoot, sign_up
from test_dashboard_a11y import serious_violations

from pipeline.chat import tool_signing
from pipeline.records import ChatMessageRecorded

_EMAILS = (f"admin{i}@example.com" for i in itertools.count(1))


@pytest.fixture(scope="module")
async def browser_stack(service_root: Path, postgres: Any) -> AsyncIterator[Stack]:
    """The module's own stack: its gateway may call tools on loopback, as in local development."""
    env = {"REVOS_TOOLS_ALLOW_PRIVATE": "true"}
    async with stack_on_new_database(service_root, postgres.dsn, gateway_env=env) as stack:
        yield stack


async def signed_up(page: Any, stack: Stack) -> tuple[str, str]:
    """Sign a new person up; their email and tenant."""
    email = next(_EMAILS)
    await sign_up(page, stack.url, email)
    assert stack.pool is not None
    tenant_id: str = await stack.pool.fetchval("SELECT tenant_id FROM users WHERE email = $1", email)
    return email, tenant_id


async def api(page: Any, method: str, path: str, body: Any = None) -> Any:
    """The API with the page's session, as dashboard.js calls it."""
    csrf = await page.get_attribute("body", "data-csrf")
    answer = await page.request.fetch(
        page.url.split("/dashboard")[0] + path, method=method, data=body, headers={"X-CSRF-Token": csrf}
    )
    assert answer.ok, await answer.text()
    return await answer.json()


Sized = tuple[Any, dict[str, int] | None, str]  # a browser context, its viewport, the screenshots' suffix


@pytest.fixture(params=[None, PHONE], ids=["desktop", "phone"])
async def sized(browser: Any, request: pytest.FixtureRequest) -> AsyncIterator[Sized]:
    """A fresh browser profile at the desktop default size, then at a phone's."""
    viewport = request.param
    context = await browser.new_context(**({"viewport": viewport} if viewport else {}))
    context.set_default_timeout(15_000)
    try:
        yield context, viewport, "-phone" if viewport else ""
    finally:
        await context.close()


async def fits_a_phone(page: Any) -> None:
    width = await page.evaluate("document.documentElement.scrollWidth")
    wide = await page.evaluate(
        "Array.from(document.querySelectorAll('main *')).filter(e => e.getBoundingClientRect().right > innerWidth && !e.closest('.table-wrap'))"
        ".slice(0, 5).map(e => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right))"
    )
    assert width <= PHONE["width"], f"{page.url} scrolls sideways at a phone's width ({width}px): {wide}"


async def test_a_new_key_is_shown_once_then_revoked(browser_stack: Stack, context: Any) -> None:
    page = await context.new_page()
    await signed_up(page, browser_stack)
    await page.get_by_role("link", name="API keys").click()
    await page.get_by_text("No API keys yet").wait_for()
    await shoot(page, "keys-empty")

    await page.get_by_role("radio", name="Admin").check()
    await page.get_by_role("button", name="Create key").click()
    secret = page.get_by_label("New admin API key")
    await secret.wait_for()
    key = await secret.input_value()
    assert key.startswith("rk_") and await secret.get_attribute("readonly") is not None
    assert await page.get_by_text("you will not see it again").is_visible()
    assert await page.evaluate("document.activeElement.id") == "new-key"
    await page.get_by_role("button", name="Copy key").click()
    await page.get_by_role("button", name="Copied").wait_for()
    await shoot(page, "keys-created")

    await page.get_by_role("link", name="Done").click()
    await page.get_by_role("button", name="Revoke").wait_for()
    assert key not in await page.content()  # shown once: never again

    # Rotate: a new key, shown once; the old one works for the grace chosen.
    await page.get_by_label("Old key works for").select_option(label="1 hour")
    await page.get_by_role("button", name="Rotate").click()
    rotated = await page.get_by_label("New admin API key").input_value()
    assert rotated.startswith("rk_") and rotated != key
    assert await page.get_by_text(
        re.compile(r"The key it replaces keeps working until \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC\.")
    ).is_visible()
    await shoot(page, "keys-rotated")
    await page.get_by_role("link", name="Done").click()
    await page.get_by_text("Expiring", exact=True).wait_for()

    # Revoke the new key, the tenant's last live admin key: a tenant with a user may.
    new_row = page.locator("tbody tr", has=page.get_by_text("Active", exact=True))
    page.once("dialog", lambda dialog: dialog.accept())
    await new_row.get_by_role("button", name="Revoke").click()
    await page.get_by_text("Revoked", exact=True).wait_for()
    assert await page.get_by_text("Active", exact=True).count() == 0
    await shoot(page, "keys-revoked")


def transcript(
    tenant_id: str, agent_id: str, conversation_id: str, started: datetime
) -> list[ChatMessageRecorded]:
    def message(seq: int, role: str, content: str, **extra: Any) -> ChatMessageRecorded:
        return ChatMessageRecorded(
            message_id=f"{conversation_id}:{seq}", tenant_id=tenant_id, agent_id=agent_id,
            conversation_id=conversation_id, seq=seq, role=role, content=content, status="complete",
            occurred_at=started + timedelta(seconds=seq * 7), visitor_id="vis_7f3a", origin="https://shop.example.com",
            **extra,
        )  # fmt: skip

    call = orjson.dumps([{"id": "c1", "type": "function",
                          "function": {"name": "lookup_order", "arguments": '{"order_id": "A-1042"}'}}]).decode()  # fmt: skip
    return [
        message(1, "user", "Hi! Where is my order A-1042? It was due yesterday.", client_message_id="m1"),
        message(2, "assistant", "", reply_to=1, model="openrouter/auto", tool_calls=call, input_tokens=212, output_tokens=18),
        message(3, "tool", '{"status": "shipped", "carrier": "DHL", "eta": "tomorrow"}', reply_to=1,
                tool_name="lookup_order", tool_call_id="c1"),
        message(4, "assistant", "Good news: order A-1042 has shipped with DHL and should arrive tomorrow.",
                reply_to=1, model="openrouter/auto", input_tokens=268, output_tokens=21, latency_ms=930),
        message(5, "user", "Great, thanks!", client_message_id="m2"),
        message(6, "assistant", "You're welcome! Anything else I can help with?", reply_to=5,
                model="openrouter/auto", input_tokens=301, output_tokens=12, latency_ms=610),
    ]  # fmt: skip


async def test_conversations_list_then_a_transcript(browser_stack: Stack, sized: Sized) -> None:
    context, viewport, suffix = sized
    page = await context.new_page()
    _, tenant_id = await signed_up(page, browser_stack)
    await page.goto(f"{browser_stack.url}/dashboard/conversations")
    await page.get_by_text("No conversations yet").wait_for()
    await shoot(page, f"conversations-empty{suffix}")

    agent = await api(page, "POST", "/v1/agents", {"name": "Acme support", "customer": "c1"})
    now = datetime.now(UTC).replace(microsecond=0)
    records = [
        r
        for i in range(3)
        for r in transcript(tenant_id, agent["agent_id"], f"cnv_{i}", now - timedelta(hours=5 * i + 1))
    ]
    await produce(browser_stack, records)

    async def listed() -> bool:
        await page.reload()
        return await page.locator("tbody tr").count() == 3

    await eventually(listed, what="the conversations listed", timeout=60)
    if viewport:
        await fits_a_phone(page)
    await shoot(page, f"conversations{suffix}")

    await page.get_by_role("combobox", name="Agent").select_option(label="Acme support")
    await page.get_by_role("button", name="Show").click()
    await page.wait_for_url("**agent_id=*")
    assert await page.get_by_role("link", name="CSV").get_attribute("href") == (
        f"/v1/conversations/export?format=csv&agent_id={agent['agent_id']}"
    )

    await page.locator("tbody tr").first.get_by_role("link").click()
    await page.get_by_role("heading", name="Conversation with Acme support").wait_for()
    assert await page.get_by_text("Where is my order A-1042?").is_visible()
    assert await page.get_by_text("Tool lookup_order").is_visible()
    assert await page.get_by_text("301 tokens in, 12 out").is_visible()
    assert await page.get_by_text("781 in · 51 out").is_visible()
    if viewport:
        await fits_a_phone(page)
    await shoot(page, f"conversation{suffix}")


async def test_the_audit_log_names_the_person_who_made_each_change(
    browser_stack: Stack, sized: Sized
) -> None:
    context, viewport, suffix = sized
    page = await context.new_page()
    email, _ = await signed_up(page, browser_stack)
    agent = await api(page, "POST", "/v1/agents", {"name": "Acme support", "customer": "c1"})
    await api(page, "PATCH", f"/v1/agents/{agent['agent_id']}", {"name": "Acme help desk"})
    assert browser_stack.pool is not None
    user_id = await browser_stack.pool.fetchval("SELECT user_id FROM users WHERE email = $1", email)

    await page.goto(f"{browser_stack.url}/dashboard/audit")

    entries = page.locator("li.entry")

    async def updated() -> bool:
        await page.reload()
        return await entries.count() == 4

    await eventually(updated, what="the update in the audit log", timeout=30)
    first = entries.first
    assert await first.locator(".badge").inner_text() == "agent.update"
    assert await first.get_by_text(email).is_visible()
    assert await first.get_by_text(f"user:{user_id}").is_visible()
    assert await first.get_by_role("rowheader", name="name").is_visible()
    assert await first.get_by_role("cell", name="Acme help desk").is_visible()
    await first.get_by_text("Before and after as JSON").click()
    if viewport:
        await fits_a_phone(page)
    await shoot(page, f"audit{suffix}")

    await page.get_by_label("Action").select_option("agent.create")
    await page.get_by_role("button", name="Show").click()
    await page.wait_for_url("**action=agent.create*")
    assert await page.locator("li.entry").count() == 1


@pytest.fixture
def order_tool() -> Iterator[tuple[str, dict[str, str]]]:
    """A tool that answers only requests signed with the secret it is told (`secrets["lookup_order"]`)."""
    secrets: dict[str, str] = {}

    def answer(headers: Message, body: bytes) -> tuple[int, bytes]:
        sent = orjson.loads(body)
        genuine = tool_signing.verify(
            secrets.get(sent["tool"], ""), headers["X-Revos-Timestamp"], body, headers["X-Revos-Signature"],
            delivery=headers["X-Revos-Delivery"], now=time.time(),
        )  # fmt: skip
        if not genuine:
            return 401, b'{"error": "bad signature"}'
        order = sent["arguments"].get("order_id")
        return 200, orjson.dumps({"order_id": order, "status": "shipped", "carrier": "DHL"})

    with loopback_tool(answer, path="/revos/lookup-order") as url:
        yield url, secrets


async def add_tool(page: Any, name: str, url: str, *, parameters: str = "") -> str:
    """Fill in and send the Add a tool form; the secret it showed once."""
    form = page.locator("form", has=page.get_by_role("button", name="Add tool"))
    await form.get_by_label("Name").fill(name)
    await form.get_by_label("Description").fill("Look up an order's delivery status by its id.")
    await form.get_by_label("URL").fill(url)
    if parameters:
        await form.get_by_label("Parameters (JSON Schema)").fill(parameters)
    secret = await form.get_by_label("Signing secret").input_value()
    await form.get_by_role("button", name="Add tool").click()
    shown = page.get_by_role("region", name="Tool added").get_by_label("Signing secret")
    await shown.wait_for()
    assert await shown.input_value() == secret
    return secret


async def test_add_a_tool_and_send_it_a_signed_test_call(
    browser_stack: Stack, context: Any, order_tool: tuple[str, dict[str, str]]
) -> None:
    url, secrets = order_tool
    page = await context.new_page()
    await signed_up(page, browser_stack)
    agent = await api(page, "POST", "/v1/agents", {"name": "Acme support", "customer": "c1"})
    tools_page = f"{browser_stack.url}/dashboard/agents/{agent['agent_id']}/tools"
    await page.goto(tools_page)
    await page.get_by_text("No tools yet").wait_for()
    await shoot(page, "tools-empty")

    schema = '{"type": "object", "properties": {"order_id": {"type": "string"}}, "required": ["order_id"]}'
    secrets["lookup_order"] = await add_tool(page, "lookup_order", url, parameters=schema)
    assert await page.get_by_text("you will not see it again").is_visible()
    await shoot(page, "tools-added")
    await page.get_by_role("link", name="Done").click()
    await page.get_by_role("heading", name="lookup_order").wait_for()
    assert secrets["lookup_order"] not in await page.content()

    # A second tool, added as the first was: the first keeps its secret (its test call still verifies).
    # The tool server is not told this one's secret, so it refuses the call.
    await add_tool(page, "stock", url)
    await page.goto(tools_page)

    tool = page.locator("section.tool", has=page.get_by_role("heading", name="lookup_order"))
    await tool.get_by_text("Send a test call").click()
    await tool.get_by_label("Arguments (JSON)").fill('{"order_id": "A-1042"}')
    await tool.get_by_role("button", name="Send test call").click()
    await tool.get_by_text("The tool answered 200").wait_for()
    sent = await tool.locator("[data-field='request.body']").inner_text()
    assert orjson.loads(sent)["arguments"] == {"order_id": "A-1042"} and orjson.loads(sent)["context"]["test"]
    assert "x-revos-signature" in await tool.locator("[data-field='request.headers']").inner_text()
    assert '"status":"shipped"' in await tool.locator("[data-field='response.body']").inner_text()
    await shoot(page, "tools-test-call")

    stock = page.locator("section.tool", has=page.get_by_role("heading", name="stock"))
    await stock.get_by_text("Send a test call").click()
    await stock.get_by_role("button", name="Send test call").click()
    await stock.get_by_text("The call failed: the tool answered HTTP 401").wait_for()
    assert "bad signature" in await stock.locator("[data-field='response.body']").inner_text()
    await shoot(page, "tools-test-call-failed")

    # Edit one tool, then delete the other: the one left keeps its secret through both writes.
    await stock.get_by_text("Edit").click()
    await stock.get_by_label("Description").fill("Check what is in stock.")
    await stock.get_by_role("button", name="Save tool").click()
    await page.locator("section.tool > p", has_text="Check what is in stock.").wait_for()
    stock = page.locator("section.tool", has=page.get_by_role("heading", name="stock"))
    page.once("dialog", lambda dialog: dialog.accept())
    await stock.get_by_role("button", name="Delete").click()
    await page.get_by_role("heading", name="stock").wait_for(state="detached")
    tool = page.locator("section.tool", has=page.get_by_role("heading", name="lookup_order"))
    await tool.get_by_text("Send a test call").click()
    await tool.get_by_role("button", name="Send test call").click()
    await tool.get_by_text("The tool answered 200").wait_for()


async def test_the_tools_page_reads_at_a_phone_width(
    browser_stack: Stack, browser: Any, order_tool: tuple[str, dict[str, str]]
) -> None:
    url, secrets = order_tool
    context = await browser.new_context(viewport=PHONE)
    try:
        page = await context.new_page()
        await signed_up(page, browser_stack)
        secrets["lookup_order"] = "a-tool-secret-of-enough-length"
        tool = {"name": "lookup_order", "description": "Look up an order's delivery status by its id.",
                "url": url, "secret": secrets["lookup_order"],
                "parameters": {"type": "object", "properties": {"order_id": {"type": "string"}}}}  # fmt: skip
        agent = await api(
            page, "POST", "/v1/agents", {"name": "Acme support", "customer": "c1", "tools": [tool]}
        )
        await page.goto(f"{browser_stack.url}/dashboard/agents/{agent['agent_id']}/tools")
        await page.get_by_text("Send a test call").click()
        await page.get_by_role("button", name="Send test call").click()
        await page.get_by_text("The tool answered 200").wait_for()
        await fits_a_phone(page)
        await shoot(page, "tools-phone")
        await page.goto(f"{browser_stack.url}/dashboard/keys")
        await page.get_by_role("button", name="Create key").click()
        await page.get_by_role("button", name="Copy key").wait_for()
        await page.get_by_role("link", name="Done").click()
        await page.get_by_role("button", name="Revoke").wait_for()
        await fits_a_phone(page)
        await shoot(page, "keys-phone")
    finally:
        await context.close()


@pytest.mark.parametrize("viewport", [None, PHONE], ids=["desktop", "phone"])
async def test_the_admin_pages_filled_have_no_serious_accessibility_violations(
    browser_stack: Stack,
    browser: Any,
    order_tool: tuple[str, dict[str, str]],
    viewport: dict[str, int] | None,
) -> None:
    url, secrets = order_tool
    # axe is injected with page.evaluate; the pages' CSP (script-src 'self') would refuse it otherwise.
    context = await browser.new_context(bypass_csp=True, **({"viewport": viewport} if viewport else {}))
    try:
        page = await context.new_page()
        _, tenant_id = await signed_up(page, browser_stack)
        secrets["lookup_order"] = "a-tool-secret-of-enough-length"
        tool = {"name": "lookup_order", "url": url, "secret": secrets["lookup_order"]}
        agent = await api(
            page, "POST", "/v1/agents", {"name": "Acme support", "customer": "c1", "tools": [tool]}
        )
        await api(page, "POST", "/v1/keys", {"scope": "ingest"})
        now = datetime.now(UTC).replace(microsecond=0)
        await produce(
            browser_stack, transcript(tenant_id, agent["agent_id"], "cnv_a11y", now - timedelta(hours=1))
        )
        await page.goto(f"{browser_stack.url}/dashboard/conversations")

        async def listed() -> bool:
            await page.reload()
            return await page.locator("tbody tr").count() == 1

        await eventually(listed, what="the conversation listed", timeout=60)

        found: dict[str, list[str]] = {}
        for path in ("/dashboard/keys", "/dashboard/conversations", "/dashboard/conversations/cnv_a11y",
                     "/dashboard/audit"):  # fmt: skip
            await page.goto(f"{browser_stack.url}{path}")
            found[path] = await serious_violations(page)
        await page.goto(f"{browser_stack.url}/dashboard/keys")
        await page.get_by_role("button", name="Create key").click()
        await page.get_by_role("button", name="Copy key").wait_for()
        found["/dashboard/keys (a new key)"] = await serious_violations(page)
        await page.goto(f"{browser_stack.url}/dashboard/agents/{agent['agent_id']}/tools")
        await page.get_by_text("Send a test call").click()
        await page.get_by_role("button", name="Send test call").click()
        await page.get_by_text("The tool answered 200").wait_for()
        await page.get_by_text("Edit").click()
        found["tools (a test call, an edit)"] = await serious_violations(page)
        assert {path: v for path, v in found.items() if v} == {}
    finally:
        await context.close()
