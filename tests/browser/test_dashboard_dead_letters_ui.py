"""The Dead letters pages in Chromium: an empty list, then refused events counted by reason, one inspected,
a dry run before and after its price exists, and a replay confirmed and recorded; at desktop and phone
widths, with screenshots in artifacts/screenshots/."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

from e2e_stack import Stack
from test_dashboard import PHONE, shoot, sign_up
from test_dashboard_a11y import serious_violations
from test_dashboard_burn_tables_ui import no_sideways_scroll

_EMAILS = (f"dlq{i}@example.com" for i in itertools.count(1))


def at(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


async def api(page: Any, method: str, path: str, body: Any) -> Any:
    """The API as the page's own forms call it: the session's cookie and its CSRF token."""
    csrf = await page.locator("body").get_attribute("data-csrf")
    answer = await page.request.fetch(f"{page.url.split('/dashboard')[0]}{path}", method=method, data=body,
                                      headers={"X-CSRF-Token": csrf})  # fmt: skip
    assert answer.ok, await answer.text()
    return await answer.json()


async def refused_events(page: Any, event_time: datetime) -> None:
    """An event no burn table prices yet (refused while charging) and two the API refuses."""
    events = [
        {"id": "report-7", "customer": "acme", "type": "report.completed", "timestamp": at(event_time)},
        {"id": "tokens-1", "customer": "acme", "type": "llm.tokens", "quantity": "-40"},
        {"id": "tokens-2", "customer": "acme", "type": "llm.tokens", "timestamp": "yesterday"},
    ]
    answer = await api(page, "POST", "/v1/events", {"events": events})
    assert answer["rejected"] == 2


async def wait_listed(page: Any, url: str, text: str) -> None:
    for _ in range(100):
        await page.goto(f"{url}/dashboard/dead-letters")
        if await page.get_by_role("link", name=text).count():
            return
        await page.wait_for_timeout(200)
    raise AssertionError(f"{text} never listed")


async def test_inspect_dry_run_and_replay_a_refused_event(browser_stack: Stack, context: Any) -> None:
    page = await context.new_page()
    url = browser_stack.url
    await sign_up(page, url, next(_EMAILS))
    await page.get_by_role("navigation", name="Main").get_by_role("link", name="Dead letters").click()
    await page.get_by_text("No rejected events — everything you sent was accepted").wait_for()
    await shoot(page, "dead-letters-empty")

    event_time = datetime.now(UTC) - timedelta(minutes=5)
    await refused_events(page, event_time)
    await wait_listed(page, url, "report-7")
    counts = page.get_by_role("region", name="By reason")
    for code in ("unpriced", "negative_decimal", "invalid_timestamp"):
        assert await counts.get_by_role("link", name=code).count() == 1, code
    await shoot(page, "dead-letters-list")

    await page.get_by_label("Reason", exact=True).select_option("negative_decimal")
    await page.get_by_role("button", name="Filter").click()
    await page.wait_for_url("**code=negative_decimal**")
    assert await page.get_by_role("link", name="tokens-1").count() == 1
    assert await page.get_by_role("link", name="report-7").count() == 0

    await page.goto(f"{url}/dashboard/dead-letters")
    await page.get_by_role("link", name="report-7").click()
    await page.get_by_role("heading", name="Event report-7").wait_for()
    assert "UsageRecorded" in await page.get_by_role("heading", name="The record").inner_text()
    result = page.locator("#replay-result")
    await page.get_by_role("button", name="Dry run").click()
    await result.get_by_text("It would be refused again (unpriced)").wait_for()
    await shoot(page, "dead-letter-dry-run-unpriced")

    # Price it (effective from before the event), then the dry run says it would pass.
    rules = {
        "rules": [{"type": "report.completed", "credits_per_unit": "50"}],
        "effective_at": at(event_time - timedelta(hours=1)),
    }
    await api(page, "PUT", "/v1/burn-tables/default", rules)
    await page.get_by_role("button", name="Dry run").click()
    await result.get_by_text("It would be replayed.").wait_for()
    assert "charged 50 credits by 'default' v1" in await result.inner_text()
    await shoot(page, "dead-letter-dry-run")

    page.once("dialog", lambda dialog: dialog.accept())
    await page.get_by_role("button", name="Replay", exact=True).click()
    await page.wait_for_url("**replayed=1")
    await page.get_by_role("status").get_by_text("Replayed: the event was sent again").wait_for()
    assert await page.get_by_role("button", name="Replay", exact=True).count() == 0
    assert "already replayed" in await page.get_by_role("region", name="Replay").inner_text()
    await shoot(page, "dead-letter-replayed")

    entries = await api(page, "GET", "/v1/audit?action=dead_letter.replay", None)
    assert len(entries["entries"]) == 1 and entries["entries"][0]["actor"].startswith("user:")


async def test_the_dead_letter_pages_read_at_a_phone_width(browser_stack: Stack, browser: Any) -> None:
    """Readable at 390 px, and no serious accessibility violation filled in (axe needs the CSP bypassed)."""
    context = await browser.new_context(viewport=PHONE, bypass_csp=True)
    context.set_default_timeout(15_000)
    try:
        page = await context.new_page()
        url = browser_stack.url
        await sign_up(page, url, next(_EMAILS))
        await page.goto(f"{url}/dashboard/dead-letters")
        await shoot(page, "dead-letters-empty-phone")
        await no_sideways_scroll(page)
        await refused_events(page, datetime.now(UTC) - timedelta(minutes=5))
        await wait_listed(page, url, "report-7")
        await shoot(page, "dead-letters-list-phone")
        await no_sideways_scroll(page)
        assert await serious_violations(page) == []
        await page.get_by_role("link", name="tokens-1").click()
        await page.get_by_role("button", name="Dry run").click()
        await page.locator("#replay-result").get_by_text("negative_decimal").wait_for()
        await shoot(page, "dead-letter-phone")
        await no_sideways_scroll(page)
        assert await serious_violations(page) == []
    finally:
        await context.close()
