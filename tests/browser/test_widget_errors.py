"""The widget's error reports in a real browser: errors thrown on the hosted chat page reach
`POST /v1/client-errors` and the gateway's `revos_client_errors_total`, at most 5 a page load."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from browser_support import CHROMIUM, Agent
from e2e_stack import Stack, eventually

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed: `make test` installs it"),
]

THROW = (
    """(n) => { for (let i = 0; i < n; i++) setTimeout(() => { throw new Error("widget marker " + i); }); }"""
)
REJECT = """() => { Promise.reject(new Error("widget rejection")); }"""


async def counted(stack: Stack, agent_id: str) -> float:
    async with httpx.AsyncClient(base_url=stack.url, timeout=30.0) as http:
        text = (await http.get("/metrics")).text
    labels = re.escape(f'agent_id="{agent_id}",kind="error",source="widget"')
    found = re.search(r"^revos_client_errors_total\{" + labels + r"\} (\S+)$", text, re.M)
    return float(found.group(1)) if found else 0.0


async def test_errors_thrown_on_the_chat_page_reach_the_endpoint_and_the_counter(
    context: Any, browser_stack: Stack, agent: Agent
) -> None:
    before = await counted(browser_stack, agent.agent_id)
    page = await context.new_page()
    reports: list[Any] = []
    page.on("request", lambda r: reports.append(r) if "/v1/client-errors" in r.url else None)
    async with page.expect_response(lambda r: "/v1/widget/sessions" in r.url) as session:
        await page.goto(f"{agent.gateway}/chat/{agent.agent_id}")
    assert (await session.value).status == 201
    await page.evaluate(REJECT)
    await page.evaluate(THROW, 6)  # seven in all: only five are sent

    async def five() -> bool:
        return await counted(browser_stack, agent.agent_id) >= before + 5

    await eventually(five, timeout=30.0, what="five reports counted")
    bodies = [r.post_data or "" for r in reports]
    assert any("widget rejection" in b for b in bodies), bodies
    assert any("widget marker 0" in b for b in bodies), bodies
    assert len(reports) == 5, bodies
    assert all("token=" in r.url for r in reports)
    assert await counted(browser_stack, agent.agent_id) == before + 5
