"""The dashboard in Chromium, as a person uses it: sign up, land on the checklist, sign out and back in.
Screenshots of every page land in artifacts/screenshots/ (not committed) to be looked at."""

from __future__ import annotations

import itertools
import time
from pathlib import Path
from typing import Any

from e2e_stack import Stack

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
PHONE = {"width": 390, "height": 844}
_EMAILS = (f"person{i}@example.com" for i in itertools.count(1))


async def shoot(page: Any, name: str, *, full_page: bool = True) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=full_page)


async def sign_up(page: Any, url: str, email: str, organization: str = "Acme Inc") -> None:
    await page.goto(f"{url}/signup")
    await page.get_by_label("Organization name").fill(organization)
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill("correct horse battery")
    await page.get_by_role("button", name="Sign up").click()
    await page.wait_for_url(f"{url}/dashboard")


async def test_sign_up_lands_on_the_checklist_and_sign_in_comes_back(
    browser_stack: Stack, context: Any
) -> None:
    page = await context.new_page()
    url = browser_stack.url
    await page.goto(f"{url}/signup")
    await shoot(page, "signup")
    started = time.monotonic()
    email = next(_EMAILS)
    await sign_up(page, url, email)
    print(f"sign-up to dashboard: {time.monotonic() - started:.1f} s")
    await page.get_by_role("heading", name="Get your assistant live").wait_for()
    assert await page.get_by_text("0 of 5 steps done").is_visible()
    await shoot(page, "home-checklist")

    cookies = {c["name"]: c for c in await context.cookies()}
    session = cookies["revos_session"]
    assert session["httpOnly"] and session["sameSite"] == "Lax"

    await page.get_by_role("button", name="Log out").click()
    await page.wait_for_url(f"{url}/login")
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill("wrong password!")
    await page.get_by_role("button", name="Log in").click()
    await page.get_by_role("alert").wait_for()
    assert "do not match" in await page.get_by_role("alert").inner_text()
    await shoot(page, "login-error")
    await page.get_by_label("Password").fill("correct horse battery")
    await page.get_by_role("button", name="Log in").click()
    await page.wait_for_url(f"{url}/dashboard")


async def test_the_pages_read_at_a_phone_width(browser_stack: Stack, browser: Any) -> None:
    context = await browser.new_context(viewport=PHONE)
    try:
        page = await context.new_page()
        await page.goto(f"{browser_stack.url}/signup")
        await shoot(page, "signup-phone")
        await sign_up(page, browser_stack.url, next(_EMAILS))
        await shoot(page, "home-phone")
        width = await page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], f"the page scrolls sideways at a phone's width ({width}px)"
    finally:
        await context.close()


async def test_sign_up_and_a_first_agent_with_the_keyboard_alone(browser_stack: Stack, context: Any) -> None:
    page = await context.new_page()
    url = browser_stack.url
    await page.goto(f"{url}/signup")
    await page.keyboard.press("Tab")  # the skip link comes first
    assert await page.evaluate("document.activeElement.textContent") == "Skip to content"
    await page.get_by_label("Organization name").focus()
    await page.keyboard.type("Keys Ltd")
    await page.keyboard.press("Tab")
    await page.keyboard.type(next(_EMAILS))
    await page.keyboard.press("Tab")
    await page.keyboard.type("correct horse battery")
    await page.keyboard.press("Enter")
    await page.wait_for_url(f"{url}/dashboard")

    await page.goto(f"{url}/dashboard/agents/new")
    await page.get_by_role("radio", name="Support").focus()
    await page.keyboard.press("ArrowRight")  # radios move with the arrow keys
    assert await page.get_by_role("radio", name="Sales").is_checked()
    await page.get_by_label("Name").focus()
    await page.keyboard.type("Keyboard agent")
    await page.keyboard.press("Enter")
    await page.get_by_role("heading", name="Keyboard agent", level=1).wait_for()
