"""What the dashboard refuses and what it says when there is nothing yet, in Chromium: every page of a new
account has an empty state that says what to do; another tenant's agent, conversation and customer are
not found; a signed-out visitor is sent to sign in and back; a change without the page's CSRF token, or
from another site, is refused."""

from __future__ import annotations

import itertools
from typing import Any

from browser_support import Site
from e2e_stack import Stack, eventually
from playwright.async_api import expect
from test_dashboard import shoot, sign_up

_EMAILS = (f"guard{i}@example.com" for i in itertools.count(1))
EMPTY = {
    "/dashboard/agents": "No agents yet — create your first from a template",
    "/dashboard/conversations": "No conversations yet",
    "/dashboard/customers": "No customers yet",
    "/dashboard/usage": "No usage in this range — send your first event:",
    "/dashboard/burn-tables": "No burn tables yet",
    "/dashboard/dead-letters": "No rejected events — everything you sent was accepted",
    "/dashboard/keys": "No API keys yet",
}


async def api(page: Any, method: str, path: str, body: Any = None, *, csrf: bool = True) -> Any:
    """Call the API from the page as its forms do (the session cookie, and the page's CSRF token)."""
    return await page.evaluate(
        """async ([method, path, body, csrf]) => {
            const headers = {"Content-Type": "application/json"};
            if (csrf) headers["X-CSRF-Token"] = document.body.dataset.csrf;
            const r = await fetch(path, {method, headers, body: body === null ? undefined : JSON.stringify(body)});
            return {status: r.status, body: await r.json().catch(() => null)};
        }""",
        [method, path, body, csrf],
    )


async def test_every_page_of_a_new_account_says_what_to_do(browser_stack: Stack, context: Any) -> None:
    page = await context.new_page()
    await sign_up(page, browser_stack.url, next(_EMAILS))
    for path, text in EMPTY.items():
        await page.goto(f"{browser_stack.url}{path}")
        await expect(page.get_by_text(text)).to_be_visible()
        await shoot(page, "empty" + path.replace("/dashboard", "").replace("/", "-"))


async def test_another_tenants_agent_conversation_and_customer_are_not_found(
    browser_stack: Stack, browser: Any
) -> None:
    url = browser_stack.url
    owner_context, other_context = await browser.new_context(), await browser.new_context()
    try:
        owner = await owner_context.new_page()
        await sign_up(owner, url, next(_EMAILS), "Tenant A")
        made = await api(owner, "POST", "/v1/agents", {"name": "A's agent"})
        agent_id = made["body"]["agent_id"]
        assert (await api(owner, "PUT", "/v1/customers/cust_a", {}))["status"] in (200, 202)
        await owner.goto(f"{url}/dashboard/agents/{agent_id}")
        await owner.get_by_label("Message").fill("Hello")
        await owner.get_by_role("button", name="Send").click()

        async def conversation() -> str | None:
            found = (await api(owner, "GET", "/v1/conversations"))["body"]["conversations"]
            return found[0]["conversation_id"] if found else None

        conversation_id = await eventually(conversation, what="the test conversation to be stored")

        other = await other_context.new_page()
        await sign_up(other, url, next(_EMAILS), "Tenant B")
        for path, what in [
            (f"/dashboard/agents/{agent_id}", "agent"),
            (f"/dashboard/agents/{agent_id}/tools", "agent"),
            (f"/dashboard/conversations/{conversation_id}", "conversation"),
            ("/dashboard/customers/cust_a", "customer"),
        ]:
            answer = await other.goto(f"{url}{path}")
            assert answer.status == 404, path
            await expect(other.get_by_role("heading", name=f"No such {what}")).to_be_visible()
        assert (await api(other, "GET", f"/v1/agents/{agent_id}"))["status"] == 404
        await shoot(other, "not-found")
        await owner.goto(f"{url}/dashboard/customers/cust_a")  # still the owner's
        await expect(owner.get_by_role("heading", name="cust_a")).to_be_visible()
    finally:
        await owner_context.close()
        await other_context.close()


async def test_a_signed_out_visitor_is_sent_to_sign_in_and_comes_back(
    browser_stack: Stack, context: Any
) -> None:
    url = browser_stack.url
    email = next(_EMAILS)
    page = await context.new_page()
    await sign_up(page, url, email)
    await page.get_by_role("button", name="Log out").click()
    await page.wait_for_url(f"{url}/login")
    await page.goto(f"{url}/dashboard/customers?prefix=c")
    await page.wait_for_url(f"{url}/login?next=%2Fdashboard%2Fcustomers%3Fprefix%3Dc")
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill("correct horse battery")
    await page.get_by_role("button", name="Log in").click()
    await page.wait_for_url(f"{url}/dashboard/customers?prefix=c")


async def test_a_change_without_the_pages_token_or_from_another_site_is_refused(
    browser_stack: Stack, context: Any, site: Site
) -> None:
    url = browser_stack.url
    page = await context.new_page()
    await sign_up(page, url, next(_EMAILS))
    refused = await api(page, "POST", "/v1/agents", {"name": "Sneaky"}, csrf=False)
    assert refused["status"] == 403 and refused["body"]["error"]["code"] == "csrf_failed"

    # Another site's page posting to the API with the visitor's cookies: the browser does not send the
    # session cookie cross-site (SameSite=Lax), and nothing is created.
    site.pages["/attack"] = (
        "<!doctype html><html><body><script>"
        f"fetch('{url}/v1/agents', {{method: 'POST', credentials: 'include', mode: 'no-cors',"
        " headers: {'Content-Type': 'text/plain'}, body: JSON.stringify({name: 'Sneaky'})})"
        ".finally(() => { document.title = 'sent'; });"
        "</script></body></html>"
    )
    attacker = await context.new_page()
    await attacker.goto(site.url("evil.test", "/attack"))
    await expect(attacker).to_have_title("sent")
    listed = await api(page, "GET", "/v1/agents")
    assert listed["status"] == 200 and listed["body"]["agents"] == []
