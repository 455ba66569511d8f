"""The Burn tables pages in Chromium: create the first table from the starter, publish a version and see
the two side by side, read the API's refusal of a bad version, and price an event without sending it;
at desktop and phone widths, with screenshots in artifacts/screenshots/."""

from __future__ import annotations

import itertools
import json
from typing import Any

from e2e_stack import Stack
from test_dashboard import PHONE, shoot, sign_up
from test_dashboard_a11y import serious_violations

_EMAILS = (f"burn{i}@example.com" for i in itertools.count(1))

V2 = [
    {"type": "llm.tokens", "match": {"model": "gpt-4o", "direction": "output"}, "credits_per_unit": "0.02",
     "cost_per_unit": "0.004"},
    {"type": "llm.tokens", "credits_per_unit": "0.001"},
    {"type": "research.completed", "match": {"tier": "pro"}, "credits_per_unit": "80"},
]  # fmt: skip


async def no_sideways_scroll(page: Any) -> None:
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"{page.url} scrolls sideways at a phone's width ({width}px)"


async def test_create_a_table_publish_a_version_and_price_an_event(
    browser_stack: Stack, context: Any
) -> None:
    page = await context.new_page()
    url = browser_stack.url
    await sign_up(page, url, next(_EMAILS))
    await page.get_by_role("navigation", name="Main").get_by_role("link", name="Burn tables").click()
    await page.get_by_text("No burn tables yet").wait_for()
    await shoot(page, "burn-tables-empty")

    assert await page.get_by_label("Table name").input_value() == "default"
    assert "research.completed" in await page.get_by_label("Rules (JSON)").input_value()
    await page.get_by_role("button", name="Create burn table").click()
    await page.wait_for_url(f"{url}/dashboard/burn-tables/default")
    await page.get_by_role("heading", name="Rules of version 1").wait_for()
    await shoot(page, "burn-table-one-version")

    # A version the API refuses: its message shows in the form, nothing is published.
    publish = page.locator("form", has=page.get_by_role("button", name="Publish version"))
    rules = page.get_by_label("Rules (JSON)")
    await rules.fill(json.dumps([V2[1], V2[1]]))
    await page.get_by_role("button", name="Publish version").click()
    alert = publish.get_by_role("alert")
    await alert.wait_for()
    assert "repeats rules[0]" in await alert.inner_text()
    await rules.fill("[{not json")
    await page.get_by_role("button", name="Publish version").click()
    await page.get_by_text("is not valid JSON").wait_for()
    await shoot(page, "burn-table-publish-error")

    await rules.fill(json.dumps(V2, indent=2))
    await page.get_by_role("button", name="Publish version").click()
    await page.get_by_role("heading", name="Version 2 next to version 1").wait_for()
    table = page.get_by_role("table", name="Rules of version 1 and version 2")
    for mark in ("Changed", "Same", "New rule", "Removed"):
        assert await table.get_by_text(mark, exact=True).count() >= 1, mark
    await shoot(page, "burn-table-two-versions")

    # What would this event cost: priced by version 2's most specific rule, nothing sent.
    await page.get_by_label("Event type").fill("llm.tokens")
    await page.get_by_label("Quantity").fill("1500")
    await page.get_by_label("Properties (JSON, optional)").fill('{"model": "gpt-4o", "direction": "output"}')
    await page.get_by_role("button", name="Price this event").click()
    result = page.locator("#cost-result")
    await result.get_by_text("30 credits").wait_for()
    text = await result.inner_text()
    assert "Rule 1 of version 2" in text and "(cost 6)" in text, text
    await shoot(page, "burn-table-preview")

    await page.get_by_label("Event type").fill("video.minutes")
    await page.get_by_role("button", name="Price this event").click()
    refusal = page.locator("form", has=page.get_by_role("button", name="Price this event")).get_by_role(
        "alert"
    )
    await refusal.wait_for()
    assert "has no rule for type 'video.minutes'" in await refusal.inner_text()
    assert await result.is_hidden()
    await shoot(page, "burn-table-preview-unpriced")

    await page.get_by_role("navigation", name="Main").get_by_role("link", name="Burn tables").click()
    await page.get_by_role("link", name="default").wait_for()
    assert "v2" in await page.get_by_role("table").inner_text()
    await shoot(page, "burn-tables-list")


async def test_the_burn_table_pages_read_at_a_phone_width(browser_stack: Stack, browser: Any) -> None:
    """Readable at 390 px, and no serious accessibility violation filled in (axe needs the CSP bypassed)."""
    context = await browser.new_context(viewport=PHONE, bypass_csp=True)
    context.set_default_timeout(15_000)
    try:
        page = await context.new_page()
        url = browser_stack.url
        await sign_up(page, url, next(_EMAILS))
        await page.goto(f"{url}/dashboard/burn-tables")
        await shoot(page, "burn-tables-empty-phone")
        await no_sideways_scroll(page)
        await page.get_by_role("button", name="Create burn table").click()
        await page.wait_for_url(f"{url}/dashboard/burn-tables/default")
        await page.get_by_label("Rules (JSON)").fill(json.dumps(V2))
        await page.get_by_role("button", name="Publish version").click()
        await page.get_by_role("heading", name="Version 2 next to version 1").wait_for()
        await page.get_by_role("button", name="Price this event").click()
        await page.locator("#cost-result").get_by_text("credits").first.wait_for()
        await shoot(page, "burn-table-phone")
        await no_sideways_scroll(page)
        assert await serious_violations(page) == []
        await page.goto(f"{url}/dashboard/burn-tables")
        await shoot(page, "burn-tables-list-phone")
        await no_sideways_scroll(page)
        assert await serious_violations(page) == []
    finally:
        await context.close()
