"""Voice in the dashboard, in Chromium, as a person uses it: set the Twilio account and an agent's phone
line through the agent's page (the webhook's secret shown once), then read the calls list, the failed
calls and one call's page. Screenshots at a desktop's and a phone's width land in artifacts/screenshots/."""

from __future__ import annotations

import re
from typing import Any

from call_facts import answered_call, dropped_call
from call_records import publish, turns
from e2e_stack import Stack, eventually
from playwright.async_api import expect
from test_dashboard import PHONE, shoot, sign_up
from test_dashboard_a11y import serious_violations
from test_dashboard_agents_ui import create_agent

NUMBER = "+14155550180"
ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
EMAIL = "voice.maker@example.com"


async def no_sideways_scroll(page: Any) -> None:
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"{page.url} scrolls sideways at a phone's width ({width}px)"


async def publish_calls(stack: Stack, agent_id: str) -> tuple[str, str]:
    """An answered call the agent ended and a dropped one, as the gateway records them."""
    assert stack.pool is not None
    tenant = await stack.pool.fetchval("SELECT tenant_id FROM assistants WHERE agent_id = $1", agent_id)
    talked, dropped = "CA" + "d4" * 16, "CA" + "e5" * 16
    facts = answered_call(talked, customer=None, tenant=tenant, agent=agent_id)
    facts += dropped_call(dropped, customer=None, tenant=tenant, agent=agent_id)
    await publish(stack, facts, turns(tenant, agent_id, talked))
    return talked, dropped


async def test_a_phone_line_is_set_and_its_calls_read(
    browser_stack: Stack, browser: Any, context: Any
) -> None:
    url = browser_stack.url
    page = await context.new_page()
    await sign_up(page, url, EMAIL)
    await page.get_by_role("navigation", name="Main").get_by_role("link", name="Calls").click()
    await page.wait_for_url(f"{url}/dashboard/calls")
    await expect(page.get_by_text("No calls yet — give an agent a phone line, then call it")).to_be_visible()
    await shoot(page, "calls-empty")

    agent_id = await create_agent(page, url, "Support", "Phone desk", "phone_desk")
    card = page.get_by_role("region", name="Phone line", exact=True)
    await expect(card.get_by_text("No phone line yet")).to_be_visible()
    twilio = page.get_by_role("region", name="Twilio", exact=True)
    await expect(twilio.get_by_label("Voice URL")).to_have_value(f"{url}/v1/voice/twilio/incoming")
    await expect(twilio.get_by_label("Status callback URL")).to_have_value(f"{url}/v1/voice/twilio/status")
    await context.grant_permissions(["clipboard-read", "clipboard-write"], origin=url)
    await twilio.get_by_role("button", name="Copy voice URL").click()
    assert await page.evaluate("navigator.clipboard.readText()") == f"{url}/v1/voice/twilio/incoming"

    # The Twilio account: a wrong SID is refused with the API's words; the token is never shown back.
    await twilio.get_by_label("Account SID").fill("AC123")
    await twilio.get_by_label("Auth token").fill("a" * 32)
    await twilio.get_by_role("button", name="Save Twilio account").click()
    await expect(twilio.get_by_role("alert")).to_contain_text("account_sid must be a Twilio account SID")
    await twilio.get_by_label("Account SID").fill(ACCOUNT_SID)
    await twilio.get_by_role("button", name="Save Twilio account").click()
    await expect(twilio.get_by_text(f"Account {ACCOUNT_SID}")).to_be_visible()
    await expect(twilio.get_by_label("Auth token")).to_have_value("")

    # The phone line: a number that is not E.164 is refused, then every field is saved.
    await card.get_by_label("Phone number").fill("555 0100")
    await card.get_by_role("button", name="Save phone line").click()
    await expect(card.get_by_role("alert")).to_contain_text("voice.phone_number must be an E.164 number")
    await card.get_by_label("Phone number").fill(NUMBER)
    await card.get_by_label("Language").fill("en-GB")
    await card.get_by_label("Text-to-speech provider").select_option("Amazon")
    await card.get_by_label("Voice", exact=True).fill("Amy-Generative")
    await card.get_by_label("Transcription provider").select_option("Google")
    await card.get_by_label("Welcome greeting").fill("Hello, you're through to the Phone desk.")
    await card.get_by_role("checkbox", name=re.compile("Interruptible")).uncheck()
    await card.get_by_label("Longest call (seconds)").fill("900")
    await card.get_by_label("Status webhook URL").fill("https://hooks.example.com/calls")
    await card.get_by_role("button", name="Save phone line").click()
    saved = page.get_by_role("region", name="Phone line saved")
    await expect(saved).to_be_visible()
    await expect(saved.get_by_text(f"Calls to {NUMBER} reach this agent now.")).to_be_visible()
    secret = saved.get_by_label("Status webhook signing secret")
    await expect(secret).to_have_value(re.compile(r"^whsec_.+"))
    shown_secret = await secret.input_value()
    await shoot(page, "agent-phone-line-saved")
    await saved.get_by_role("link", name="Done").click()
    await expect(card.get_by_text("Amazon · voice Amy-Generative")).to_be_visible()
    await expect(card.get_by_text("No: each reply is said to the end")).to_be_visible()
    await expect(card.get_by_text("https://hooks.example.com/calls · signing secret set")).to_be_visible()
    assert shown_secret not in await page.content()
    agent = await (await page.request.get(f"{url}/v1/agents/{agent_id}")).json()
    assert agent["voice"] == {
        "phone_number": NUMBER, "language": "en-GB", "tts_provider": "Amazon", "voice": "Amy-Generative",
        "transcription_provider": "Google", "welcome_greeting": "Hello, you're through to the Phone desk.",
        "interruptible": False, "max_call_seconds": 900, "status_webhook_url": "https://hooks.example.com/calls",
        "status_webhook_secret_set": True,
    }  # fmt: skip
    await card.scroll_into_view_if_needed()
    await shoot(page, "agent-phone-line")

    # Its calls: the list, the failed ones, one call.
    talked, dropped = await publish_calls(browser_stack, agent_id)
    await card.get_by_role("link", name="See its calls").click()
    await page.wait_for_url(re.compile(r"/dashboard/calls\?agent_id="))
    rows = page.get_by_role("row")

    async def both_ended() -> bool:  # the header and both calls, once the worker has projected their ends
        texts = await rows.all_inner_texts()
        if len(texts) == 3 and "dropped" in texts[1] and "agent ended" in texts[2]:
            return True
        await page.reload()
        return False

    await eventually(both_ended, timeout=30, every=0.25, what="both calls listed, ended")
    await expect(rows.nth(1)).to_contain_text("dropped")  # started together: the later SID first
    await expect(rows.nth(2)).to_contain_text("agent ended")
    await shoot(page, "calls-list")
    await page.get_by_role("link", name="Failed calls").click()
    await expect(page.get_by_role("heading", name="Failed calls", level=2)).to_be_visible()
    await expect(page.get_by_role("row")).to_have_count(2)
    await page.get_by_role("link", name="All calls").click()
    await page.get_by_role("row", name=re.compile("agent ended")).get_by_role("link").click()
    await page.wait_for_url(f"{url}/dashboard/calls/{talked}")
    await expect(page.get_by_role("heading", name="Why it ended: agent ended")).to_be_visible()
    transcript = page.get_by_role("region", name="Transcript")
    await expect(transcript.get_by_text("Interrupted")).to_be_visible()
    await expect(transcript.get_by_text("The caller heard: “Our opening”")).to_be_visible()
    await expect(
        page.get_by_role("region", name="History").get_by_text("The caller pressed 5")
    ).to_be_visible()
    await shoot(page, "call-detail")
    await page.goto(f"{url}/dashboard/calls/{dropped}")
    await expect(
        page.get_by_text("Dropped: the connection to the call was lost before anyone ended it.")
    ).to_be_visible()
    await shoot(page, "call-detail-dropped")

    # At a phone's width: no sideways scroll anywhere.
    await page.set_viewport_size(PHONE)
    for path, name in (
        (f"/dashboard/agents/{agent_id}", "agent-phone-line-phone"),
        ("/dashboard/calls", "calls-list-phone"),
        (f"/dashboard/calls/{talked}", "call-detail-phone"),
    ):
        await page.goto(f"{url}{path}")
        await shoot(page, name)
        await no_sideways_scroll(page)
    await page.set_viewport_size({"width": 1280, "height": 800})
    paths = [f"/dashboard/agents/{agent_id}", "/dashboard/calls", f"/dashboard/calls/{talked}"]
    assert await violations(browser, url, EMAIL, paths) == {}

    # Remove the phone line, after confirming.
    await page.goto(f"{url}/dashboard/agents/{agent_id}")
    page.once("dialog", lambda dialog: dialog.accept())
    await card.get_by_role("button", name="Remove phone line").click()
    await expect(card.get_by_text("No phone line yet")).to_be_visible()
    agent = await (await page.request.get(f"{url}/v1/agents/{agent_id}")).json()
    assert agent["voice"] is None


async def violations(browser: Any, url: str, email: str, paths: list[str]) -> dict[str, list[str]]:
    """axe-core's serious violations on each page, signed in as `email` in a profile of its own (axe is
    injected with page.evaluate, which the pages' CSP refuses unless bypassed)."""
    context = await browser.new_context(bypass_csp=True)
    try:
        page = await context.new_page()
        await page.goto(f"{url}/login")
        await page.get_by_label("Email").fill(email)
        await page.get_by_label("Password").fill("correct horse battery")
        await page.get_by_role("button", name="Log in").click()
        await page.wait_for_url(f"{url}/dashboard")
        found: dict[str, list[str]] = {}
        for path in paths:
            await page.goto(f"{url}{path}")
            found[path] = await serious_violations(page)
        return {path: v for path, v in found.items() if v}
    finally:
        await context.close()
