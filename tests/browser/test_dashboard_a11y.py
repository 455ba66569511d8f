"""axe-core's checks over the dashboard's main pages, signed out and signed in: no serious or critical
violation. axe-core comes with axe-playwright-python (its bundled axe.min.js), run in Debian's Chromium."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from e2e_stack import Stack
from test_dashboard import PHONE, sign_up

_EMAILS = (f"a11y{i}@example.com" for i in itertools.count(1))
SIGNED_OUT = ["/signup", "/login"]
SIGNED_IN = [
    "/dashboard",
    "/dashboard/account",
    "/dashboard/agents",
    "/dashboard/agents/new",
    "/dashboard/conversations",
    "/dashboard/calls",
    "/dashboard/customers",
    "/dashboard/usage",
    "/dashboard/burn-tables",
    "/dashboard/dead-letters",
    "/dashboard/keys",
    "/dashboard/audit",
]


async def serious_violations(page: Any) -> list[str]:
    from axe_playwright_python.async_playwright import Axe

    results = await Axe().run(page)
    return [
        f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:3]}"
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]


@pytest.mark.parametrize("viewport", [None, PHONE], ids=["desktop", "phone"])
async def test_the_main_pages_have_no_serious_accessibility_violations(
    browser_stack: Stack, browser: Any, viewport: dict[str, int] | None
) -> None:
    # axe is injected with page.evaluate; the pages' CSP (script-src 'self') would refuse it otherwise.
    context = await browser.new_context(bypass_csp=True, **({"viewport": viewport} if viewport else {}))
    try:
        page = await context.new_page()
        found: dict[str, list[str]] = {}
        for path in SIGNED_OUT:
            await page.goto(f"{browser_stack.url}{path}")
            found[path] = await serious_violations(page)
        await sign_up(page, browser_stack.url, next(_EMAILS))
        for path in SIGNED_IN:
            await page.goto(f"{browser_stack.url}{path}")
            found[path] = await serious_violations(page)
        assert {path: v for path, v in found.items() if v} == {}
    finally:
        await context.close()
