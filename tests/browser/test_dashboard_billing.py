"""The billing pages in Chromium, as a person uses them: add a customer, grant credits and see the balance
move, void a grant, set entitlements, change settings, read an API error, all at desktop and phone widths.
Screenshots land in artifacts/screenshots/ (not committed) to be looked at."""

from __future__ import annotations

import itertools
from typing import Any

from e2e_stack import Stack
from playwright.async_api import expect
from test_dashboard import PHONE, shoot, sign_up
from test_dashboard_a11y import serious_violations

_EMAILS = (f"billing{i}@example.com" for i in itertools.count(1))


def menu(page: Any, name: str) -> Any:
    return page.get_by_role("navigation", name="Main").get_by_role("link", name=name)


def balance(page: Any) -> Any:
    return page.locator(".stats div").filter(has_text="Balance").locator("dd")


async def add_customer(page: Any, url: str, customer: str) -> None:
    await menu(page, "Customers").click()
    await page.get_by_label("Customer ID", exact=True).fill(customer)
    await page.get_by_role("button", name="Add customer").click()
    await page.wait_for_url(f"{url}/dashboard/customers/{customer}")


async def grant(page: Any, amount: str, *, reason: str = "", expires: str = "", priority: str = "") -> None:
    await page.get_by_label("Amount").fill(amount)
    if reason:
        await page.get_by_label("Reason (optional)").fill(reason)
    if expires:
        await page.get_by_label("Expires (optional)").fill(expires)
    if priority:
        await page.get_by_label("Priority").fill(priority)
    async with page.expect_navigation():  # the page reloads once the API applied the grant
        await page.get_by_role("button", name="Grant credits").click()


async def test_grant_credits_void_a_grant_and_set_entitlements(browser_stack: Stack, browser: Any) -> None:
    # A person in Paris: the expiry they type is their local time, sent to the API in UTC.
    context = await browser.new_context(timezone_id="Europe/Paris")
    context.set_default_timeout(15_000)
    try:
        page = await context.new_page()
        page.on("dialog", lambda dialog: dialog.accept())  # the confirmation before a void
        url = browser_stack.url
        await sign_up(page, url, next(_EMAILS))
        await menu(page, "Customers").click()
        await expect(page.get_by_text("No customers yet")).to_be_visible()
        await shoot(page, "customers-empty")

        await add_customer(page, url, "acme-co")
        await expect(page.get_by_role("heading", name="acme-co")).to_be_visible()
        await expect(balance(page)).to_have_text("0")
        await shoot(page, "customer-empty")

        await grant(page, "100.123456789", reason="Welcome credits")
        await expect(balance(page)).to_have_text("100.123456789")
        await grant(page, "20", expires="2030-01-15T12:30", priority="5")
        await expect(balance(page)).to_have_text("120.123456789")
        later = page.get_by_role("row").filter(has_text="2030-01-15")
        await expect(later).to_contain_text("2030-01-15 11:30:00 UTC")  # 12:30 in Paris in winter
        await expect(later).to_contain_text("active")

        # A refusal shows the API's own message, and changes nothing.
        await page.get_by_label("Amount").fill("-3")
        await page.get_by_role("button", name="Grant credits").click()
        await expect(page.get_by_role("alert")).to_contain_text("amount must not be negative")
        await page.get_by_role("alert").scroll_into_view_if_needed()
        await shoot(page, "customer-grant-refused")
        await expect(balance(page)).to_have_text("120.123456789")

        welcome = page.get_by_role("row").filter(has_text="Welcome credits")
        async with page.expect_navigation():
            await welcome.get_by_role("button", name="Void").click()
        await expect(balance(page)).to_have_text("20")
        await expect(welcome).to_contain_text("voided")
        await expect(welcome.get_by_role("button", name="Void")).to_have_count(0)

        await page.get_by_label("Feature").fill("premium")
        await page.get_by_label("Kind").select_option(label="Limit")
        await expect(page.get_by_label("Event type")).to_be_hidden()
        await page.get_by_label("Limit", exact=True).fill("5")
        async with page.expect_navigation():
            await page.get_by_role("button", name="Set entitlement").click()
        await expect(page.get_by_role("row").filter(has_text="premium")).to_contain_text("Up to 5")

        await page.get_by_label("Feature").fill("tokens")
        await page.get_by_label("Kind").select_option(label="Metered allowance")
        await page.get_by_label("Event type").fill("llm.tokens")
        await page.get_by_label("Allowance").fill("100000")
        await page.get_by_label("Per", exact=True).select_option("month")
        async with page.expect_navigation():
            await page.get_by_role("button", name="Set entitlement").click()
        metered = page.get_by_role("row").filter(has_text="tokens")
        await expect(metered).to_contain_text("100000 llm.tokens per month")
        await expect(metered).to_contain_text("0 used, 100000 left")

        await page.get_by_label("Credit limit").fill("10")
        await page.get_by_label("Alert thresholds").fill("50\n5")
        async with page.expect_navigation():
            await page.get_by_role("button", name="Save settings").click()
        await expect(page.get_by_label("Credit limit")).to_have_value("10")
        await expect(page.get_by_label("Alert thresholds")).to_have_value("50\n5")
        await expect(page.locator(".stats div").filter(has_text="Credit limit").locator("dd")).to_have_text(
            "10"
        )
        ledger = page.locator("section").filter(has=page.get_by_role("heading", name="Ledger"))
        await expect(ledger.get_by_role("row")).to_have_count(4)  # the header, two grants and a void
        await shoot(page, "customer-filled")

        await menu(page, "Customers").click()
        await expect(page.get_by_role("row").filter(has_text="acme-co")).to_contain_text("20")
        await page.get_by_label("Search by customer ID").fill("zz")
        await page.get_by_role("button", name="Search").click()
        await expect(page.get_by_text("No customer ID starts with “zz”")).to_be_visible()
        await page.get_by_label("Search by customer ID").fill("acme")
        await page.get_by_role("button", name="Search").click()
        await expect(page.get_by_role("link", name="acme-co")).to_be_visible()
        await shoot(page, "customers-filled")
    finally:
        await context.close()


async def test_the_billing_pages_read_at_a_phone_width(browser_stack: Stack, browser: Any) -> None:
    context = await browser.new_context(viewport=PHONE)
    context.set_default_timeout(15_000)
    try:
        page = await context.new_page()
        url = browser_stack.url

        async def fits(what: str) -> None:
            width = await page.evaluate("document.documentElement.scrollWidth")
            assert width <= PHONE["width"], f"{what} scrolls sideways at a phone's width ({width}px)"

        await sign_up(page, url, next(_EMAILS))
        await page.goto(f"{url}/dashboard/customers")
        await shoot(page, "customers-empty-phone")
        await fits("the empty list")
        await add_customer(page, url, "a-customer-with-a-rather-long-identifier-0001")
        await shoot(page, "customer-empty-phone")
        await fits("an empty customer")
        await grant(page, "250", reason="Trial", expires="2031-06-01T09:00")
        await expect(balance(page)).to_have_text("250")
        await page.get_by_label("Feature").fill("export")
        async with page.expect_navigation():
            await page.get_by_role("button", name="Set entitlement").click()
        await expect(page.get_by_role("row").filter(has_text="export")).to_contain_text("Enabled")
        await shoot(page, "customer-filled-phone")
        await fits("a customer with grants")
        await page.goto(f"{url}/dashboard/customers")
        await shoot(page, "customers-filled-phone")
        await fits("the list")
    finally:
        await context.close()


async def test_the_billing_pages_have_no_serious_accessibility_violations(
    browser_stack: Stack, browser: Any
) -> None:
    # axe is injected with page.evaluate; the pages' CSP (script-src 'self') would refuse it otherwise.
    context = await browser.new_context(bypass_csp=True)
    context.set_default_timeout(15_000)
    try:
        page = await context.new_page()
        url = browser_stack.url
        await sign_up(page, url, next(_EMAILS))
        await page.goto(f"{url}/dashboard/customers")
        found = {"empty list": await serious_violations(page)}
        await add_customer(page, url, "axe-1")
        found["empty customer"] = await serious_violations(page)
        await grant(page, "10", reason="Checked")
        await expect(balance(page)).to_have_text("10")
        found["customer"] = await serious_violations(page)
        await menu(page, "Customers").click()
        found["list"] = await serious_violations(page)
        assert {what: v for what, v in found.items() if v} == {}
    finally:
        await context.close()
