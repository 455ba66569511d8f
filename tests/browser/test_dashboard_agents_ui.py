"""The Agents pages in Chromium, as a person uses them: create an agent from a template, chat with it on
its page, change its prompt, branding and domains, copy the snippet, delete it. Screenshots of every
page, at a desktop's and a phone's width, land in artifacts/screenshots/."""

from __future__ import annotations

import re
from typing import Any

from e2e_stack import Stack
from playwright.async_api import expect
from test_dashboard import PHONE, shoot, sign_up

ECHO = '[offline demo] No AI model is configured, so this is a canned reply to: "Hello"'


async def grant_credits(page: Any, url: str, customer: str) -> None:
    """Credits for the agent's billing customer, so its replies are allowed (through the API, as the
    dashboard's forms send it)."""
    csrf = await page.evaluate("document.body.dataset.csrf")
    answer = await page.request.post(
        f"{url}/v1/customers/{customer}/grants", data={"amount": "1000"}, headers={"X-CSRF-Token": csrf}
    )
    assert answer.status == 201, await answer.text()


async def create_agent(page: Any, url: str, template: str, name: str, customer: str) -> str:
    await page.goto(f"{url}/dashboard/agents/new")
    await page.get_by_role("radio", name=template).check()
    await page.get_by_label("Name").fill(name)
    await page.get_by_label("Billing customer").fill(customer)
    await page.get_by_role("button", name="Create agent").click()
    await page.wait_for_url(re.compile(r"/dashboard/agents/agt_[0-9a-f]+$"))
    await page.get_by_role("heading", name=name, level=1).wait_for()
    return str(page.url.rsplit("/", 1)[1])


async def test_an_agent_from_a_template_is_tested_edited_embedded_and_deleted(
    browser_stack: Stack, context: Any
) -> None:
    url = browser_stack.url
    page = await context.new_page()
    await sign_up(page, url, "maker@example.com")
    await page.get_by_role("navigation", name="Main").get_by_role("link", name="Agents").click()
    await page.wait_for_url(f"{url}/dashboard/agents")
    await expect(page.get_by_text("No agents yet — create your first from a template")).to_be_visible()
    await shoot(page, "agents-empty")

    await page.get_by_role("link", name="Create agent").click()
    await page.wait_for_url(f"{url}/dashboard/agents/new")
    await expect(page.get_by_role("radio", name="Support")).to_be_checked()
    await shoot(page, "agent-new")
    await grant_credits(page, url, "site_1")
    agent_id = await create_agent(page, url, "Sales", "Shop helper", "site_1")

    # The test chat: the widget itself, on the dashboard's page, with no domain allowed yet.
    chat = page.get_by_role("region", name="Test it")
    await expect(chat.get_by_text("Hi! Looking for the right plan? Ask me anything.")).to_be_visible()
    await page.get_by_label("Message").fill("Hello")
    await page.get_by_role("button", name="Send").click()
    await expect(chat.get_by_text(ECHO)).to_be_visible()
    await shoot(page, "agent-page")

    # The prompt.
    await page.get_by_label("System prompt").fill("You are the Shop helper. Be brief.")
    await page.get_by_label("Temperature").fill("0.3")
    await page.get_by_role("button", name="Save prompt and model").click()
    await expect(page.get_by_text("Saved. The next reply uses it.")).to_be_visible()

    # The branding preview follows the form as you type; saving shows it in the test chat too.
    preview = page.get_by_role("figure")
    await page.get_by_label("Title").fill("Shop help desk")
    await page.get_by_label("Primary colour").fill("#0f766e")
    await page.get_by_label("Suggestions").fill("Where is my order?\nTalk to a person")
    await expect(preview.get_by_text("Shop help desk")).to_be_visible()
    await expect(preview.get_by_text("Where is my order?")).to_be_visible()
    head = preview.locator(".preview-head")
    await expect(head).to_have_css("background-color", "rgb(15, 118, 110)")
    await page.get_by_role("button", name="Save branding").click()
    await expect(page.get_by_text("Saved. The test chat shows it.")).to_be_visible()
    await expect(chat.get_by_role("heading", name="Shop help desk")).to_be_visible()
    await shoot(page, "agent-page-branded")

    # Where it may run: a domain, the snippet to copy, the hosted page.
    await page.get_by_label("Allowed domains").fill("shop.example.com\n*.example.org")
    await page.get_by_role("button", name="Save domains").click()
    await expect(page.get_by_text("Saved. Pages on these sites may use the widget now.")).to_be_visible()
    snippet = f'<script src="{url}/widget.js" data-agent="{agent_id}" async></script>'
    await expect(page.get_by_label("Embed snippet")).to_have_value(snippet)
    await context.grant_permissions(["clipboard-read", "clipboard-write"], origin=url)
    await page.get_by_role("button", name="Copy snippet").click()
    await expect(page.get_by_role("button", name="Copied")).to_be_visible()
    assert await page.evaluate("navigator.clipboard.readText()") == snippet
    await expect(page.get_by_role("link", name=f"{url}/chat/{agent_id}")).to_be_visible()

    # All of it was saved: the page shows it after a reload, and so does the API.
    await page.reload()
    await expect(page.get_by_label("System prompt")).to_have_value("You are the Shop helper. Be brief.")
    await expect(page.get_by_label("Allowed domains")).to_have_value("shop.example.com\n*.example.org")
    await expect(page.get_by_label("Title")).to_have_value("Shop help desk")
    saved = await (await page.request.get(f"{url}/v1/agents/{agent_id}")).json()
    assert (saved["temperature"], saved["branding"]["primary_color"]) == (0.3, "#0f766e")
    assert saved["branding"]["suggestions"] == ["Where is my order?", "Talk to a person"]
    await expect(chat.get_by_text(ECHO)).to_be_visible()  # the test conversation resumed

    await page.get_by_role("navigation", name="Main").get_by_role("link", name="Agents").click()
    row = page.get_by_role("row", name=re.compile("Shop helper"))
    await expect(row).to_contain_text("shop.example.com, *.example.org")
    await shoot(page, "agents-one")

    # Delete, after confirming.
    await row.get_by_role("link", name="Shop helper").click()
    page.once("dialog", lambda dialog: dialog.accept())
    await page.get_by_role("button", name="Delete agent").click()
    await page.wait_for_url(f"{url}/dashboard/agents")
    await expect(page.get_by_text("No agents yet — create your first from a template")).to_be_visible()
    gone = await page.request.get(f"{url}/dashboard/agents/{agent_id}")
    assert gone.status == 404


async def test_the_agents_pages_read_at_a_phone_width(browser_stack: Stack, browser: Any) -> None:
    context = await browser.new_context(viewport=PHONE)
    context.set_default_timeout(15_000)
    url = browser_stack.url

    async def no_sideways_scroll(page: Any) -> None:
        width = await page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], f"{page.url} scrolls sideways at a phone's width ({width}px)"

    try:
        page = await context.new_page()
        await sign_up(page, url, "phone.maker@example.com")
        await page.goto(f"{url}/dashboard/agents")
        await shoot(page, "agents-empty-phone")
        await no_sideways_scroll(page)
        await page.goto(f"{url}/dashboard/agents/new")
        await shoot(page, "agent-new-phone")
        await no_sideways_scroll(page)
        await grant_credits(page, url, "phone_1")
        await create_agent(page, url, "Onboarding", "Welcome guide", "phone_1")
        await page.get_by_label("Message").fill("Hello")
        await page.get_by_role("button", name="Send").click()
        await expect(page.get_by_text(ECHO)).to_be_visible()
        await shoot(page, "agent-page-phone")
        await no_sideways_scroll(page)
        await page.goto(f"{url}/dashboard/agents")
        await shoot(page, "agents-one-phone")
        await no_sideways_scroll(page)
    finally:
        await context.close()
