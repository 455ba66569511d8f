"""The usage page in Chromium under its strict CSP: the charts draw on their canvases, "Show numbers" opens
each chart's table, a customer's balance is picked by ID, and the page reads at a phone's width with no
sideways scroll and no serious accessibility violation. Screenshots land in artifacts/screenshots/."""

from __future__ import annotations

import itertools
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from dashboard_support import past_prices, past_usage
from e2e_stack import Stack
from playwright.async_api import expect
from test_dashboard import PHONE, shoot, sign_up
from test_dashboard_a11y import serious_violations

_EMAILS = (f"usage{i}@example.com" for i in itertools.count(1))
CHARTS = ("by-customer", "by-type", "top", "balance")

# Pixels the chart library painted on a chart's canvas (a blank canvas has none).
PAINTED = """el => {
  const canvas = el.querySelector("canvas");
  const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  let painted = 0;
  for (let i = 3; i < data.length; i += 4) if (data[i] > 0) painted++;
  return painted;
}"""


def favicon(message: Any) -> bool:
    """The browser's own request for /favicon.ico, which the dashboard does not serve."""
    return str(message.location.get("url", "")).endswith("/favicon.ico")


async def api(page: Any, method: str, path: str, body: Any) -> None:
    """The API as the dashboard's own scripts call it: the session cookie and the page's CSRF token."""
    csrf = await page.locator("body").get_attribute("data-csrf")
    answer = await page.request.fetch(
        path, method=method, data=body, headers={"X-CSRF-Token": csrf, "Content-Type": "application/json"}
    )
    assert answer.ok, await answer.text()


def welcome(now: datetime) -> dict[str, str]:
    """Credits in effect from before the first event, so the balance starts at 100."""
    return {"amount": "100", "effective_at": (now - timedelta(days=10)).isoformat()}


async def usage_shown(page: Any, url: str) -> None:
    """Reload the page until the charges reached it (the pipeline charges them within seconds)."""
    deadline = time.monotonic() + 60
    while True:
        await page.goto(url)
        if await page.locator('[data-chart="top"]').count():
            return
        assert time.monotonic() < deadline, "the usage never reached the usage page"
        await page.wait_for_timeout(500)


async def test_the_charts_draw_and_their_numbers_are_one_click_away(
    browser_stack: Stack, browser: Any
) -> None:
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    refused: list[str] = []
    try:
        page = await context.new_page()
        page.on("console", lambda m: refused.append(m.text) if m.type == "error" and not favicon(m) else None)
        page.on("pageerror", lambda e: refused.append(str(e)))
        url = browser_stack.url
        await sign_up(page, url, next(_EMAILS))
        await page.get_by_role("navigation", name="Main").get_by_role("link", name="Usage").click()
        await expect(page.get_by_text("No usage in this range — send your first event:")).to_be_visible()
        await shoot(page, "usage-empty")

        now = datetime.now(UTC)
        await api(page, "PUT", f"{url}/v1/burn-tables/default", past_prices(now))
        await api(page, "POST", f"{url}/v1/customers/cust-1/grants", welcome(now))
        await api(page, "POST", f"{url}/v1/events", {"events": past_usage(now)})
        await usage_shown(page, f"{url}/dashboard/usage?days=7")

        for chart in CHARTS:
            plot = page.locator(f'[data-chart="{chart}"]')
            await expect(plot.locator("canvas")).to_be_visible()
            assert await plot.evaluate(PAINTED) > 500, f"{chart} drew nothing"
        legend = page.locator('[data-chart="by-customer"] .u-legend')
        await expect(legend).to_contain_text("Other customers")
        await expect(page.get_by_text("credits").first).to_be_attached()
        await shoot(page, "usage-desktop")

        section = page.locator("section").filter(
            has=page.get_by_role("heading", name="Credits burned per day, by customer")
        )
        table = section.get_by_role("table", name="Credits burned per UTC day by customer")
        await expect(table).to_be_hidden()
        await section.get_by_text("Show numbers").click()
        await expect(table).to_be_visible()
        await expect(table.get_by_role("row")).to_have_count(8)  # the heading row and seven days
        await expect(table.get_by_role("columnheader", name="Other customers")).to_be_visible()
        await table.scroll_into_view_if_needed()
        await shoot(page, "usage-numbers", full_page=False)

        # Another customer's balance, by ID; the chart follows.
        await page.get_by_label("Customer ID").fill("cust-3")
        await page.get_by_role("button", name="Show balance").click()
        await page.wait_for_url("**customer=cust-3**")
        await expect(page.get_by_label("Customer ID")).to_have_value("cust-3")
        await expect(page.locator('[data-chart="balance"] canvas')).to_be_visible()
        await page.get_by_label("Customer ID").fill("nobody")
        await page.get_by_role("button", name="Show balance").click()
        await expect(page.get_by_text("No customer “nobody”")).to_be_visible()

        # The customer's own page has the balance chart too.
        await page.goto(f"{url}/dashboard/customers/cust-1")
        plot = page.locator('[data-chart="balance"]')
        await expect(plot.locator("canvas")).to_be_visible()
        assert await plot.evaluate(PAINTED) > 500
        await shoot(page, "customer-balance-chart", full_page=False)
        assert refused == [], refused  # no script error, nothing refused by the CSP

        # axe is injected with page.evaluate, which the pages' CSP would refuse: a second context, same session.
        checked = await browser.new_context(bypass_csp=True, storage_state=await context.storage_state())
        try:
            axe_page = await checked.new_page()
            await axe_page.goto(f"{url}/dashboard/usage?days=7")
            await axe_page.get_by_text("Show numbers").first.click()
            assert await serious_violations(axe_page) == []
        finally:
            await checked.close()
    finally:
        await context.close()


async def test_the_usage_page_reads_at_a_phone_width(browser_stack: Stack, browser: Any) -> None:
    context = await browser.new_context(viewport=PHONE)
    context.set_default_timeout(15_000)
    try:
        page = await context.new_page()
        url = browser_stack.url
        await sign_up(page, url, next(_EMAILS))
        now = datetime.now(UTC)
        await api(page, "PUT", f"{url}/v1/burn-tables/default", past_prices(now))
        await api(page, "POST", f"{url}/v1/customers/cust-1/grants", welcome(now))
        await api(page, "POST", f"{url}/v1/events", {"events": past_usage(now)})
        await usage_shown(page, f"{url}/dashboard/usage")

        for chart in CHARTS:
            canvas = page.locator(f'[data-chart="{chart}"] canvas')
            await expect(canvas).to_be_visible()
            box = await canvas.bounding_box()
            assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], (
                chart,
                box,
            )
        await page.get_by_text("Show numbers").first.click()
        width = await page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], f"the usage page scrolls sideways at a phone's width ({width}px)"
        await shoot(page, "usage-phone")
    finally:
        await context.close()
