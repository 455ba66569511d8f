"""The workers' error rate on the Dead letters page, in Chromium: the figure `revos infra status` prints
(records dead-lettered over records processed in the last 5 and 60 minutes, target under 1%), read from a
real worker's metrics endpoint; at desktop and phone widths, with screenshots in artifacts/screenshots/."""

from __future__ import annotations

import itertools
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from e2e_stack import Stack, create_database, eventually, start_stack
from test_dashboard import PHONE, shoot, sign_up
from test_dashboard_burn_tables_ui import no_sideways_scroll
from test_dashboard_dead_letters_ui import api

from infra.ports import free_port
from infra.worker_errors import worker_error_rates

_EMAILS = (f"rate{i}@example.com" for i in itertools.count(1))


@pytest.fixture(scope="module")
async def metrics_stack(service_root: Path, postgres: Any) -> AsyncIterator[tuple[Stack, int]]:
    """A stack whose worker serves its metrics, and a gateway that knows where."""
    dsn = await create_database(postgres.dsn)
    stack = await start_stack(service_root, dsn, workers=0, gateway=False)
    port = free_port()
    env = {"REVOS_WORKER_METRICS_PORT": str(port), "REVOS_WORKERS": "1"}
    try:
        stack.start_worker(0, env=env)
        stack.start_gateway(env=env)
        await stack.wait_ready()
        yield stack, port
    finally:
        await stack.stop()
        await drop_database(postgres.dsn, dsn)


async def drop_database(server_dsn: str, dsn: str) -> None:
    conn = await asyncpg.connect(server_dsn)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{dsn.rsplit("/", 1)[1]}" WITH (FORCE)')
    finally:
        await conn.close()


async def figure(page: Any, url: str, window: str) -> str:
    await page.goto(f"{url}/dashboard/dead-letters")
    region = page.get_by_role("region", name="Worker error rate")
    return str(
        await region.locator("dt", has_text=window).locator("xpath=following-sibling::dd").inner_text()
    )


async def test_the_dead_letters_page_shows_the_workers_error_rate(
    metrics_stack: tuple[Stack, int], browser: Any
) -> None:
    stack, port = metrics_stack
    context = await browser.new_context()
    context.set_default_timeout(15_000)
    try:
        page = await context.new_page()
        await sign_up(page, stack.url, next(_EMAILS))
        rules = {"rules": [{"type": "llm.tokens", "credits_per_unit": "0.001"}]}
        await api(page, "PUT", "/v1/burn-tables/default", rules)
        # 3 priced events and 1 no rule prices: one dead letter among the events charged.
        events = [{"id": f"t-{i}", "customer": "acme", "type": "llm.tokens", "quantity": 5} for i in range(3)]
        events.append({"id": "unpriced-1", "customer": "acme", "type": "report.completed"})
        assert (await api(page, "POST", "/v1/events", {"events": events}))["accepted"] == 4

        async def counted() -> bool:
            rates = await worker_error_rates(port, 1)
            return bool(rates["last_5m"]["failed"] >= 1)

        await eventually(counted, what="the worker to count the dead letter")
        before = (await worker_error_rates(port, 1))["last_5m"]["error_rate_percent"]
        shown = await figure(page, stack.url, "Last 5 minutes")
        after = (await worker_error_rates(port, 1))["last_5m"]["error_rate_percent"]
        assert before and after  # a record may land between the reads: the page shows one of them
        assert shown.split("%")[0] in (f"{before:.2f}", f"{after:.2f}"), (shown, before, after)
        assert "(over target)" in shown  # one failure among a few records is far above 1%
        assert re.match(r"\d+\.\d\d%", await figure(page, stack.url, "Last 60 minutes"))
        assert "under 1%" in await page.get_by_role("region", name="Worker error rate").inner_text()
        await shoot(page, "dead-letters-worker-error-rate")
        await page.set_viewport_size(PHONE)
        await page.reload()
        await shoot(page, "dead-letters-worker-error-rate-phone")
        await no_sideways_scroll(page)
    finally:
        await context.close()
