"""Browser fixtures: one stack, one agent and one Chromium for the module.

Host pages are served by one local HTTP server under made-up hostnames (`allowed.test`, `blocked.test`):
Chromium resolves every `*.test` name to 127.0.0.1, so each hostname is a distinct origin, as on the web.
Chromium is Debian's (`make test` installs it); Playwright only drives it.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "e2e"))

from browser_support import BRANDING, CHROMIUM, Agent, Site
from e2e_stack import Stack, eventually, stack_on_new_database


@pytest.fixture(scope="module")
def site() -> Iterator[Site]:
    served: Site = Site(port=0)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = served.pages.get(self.path)
            self.send_response(200 if body is not None else 404)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.end_headers()
            self.wfile.write((body or "not found").encode())

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    served.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield served
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
async def browser_stack(service_root: Path, postgres: Any) -> AsyncIterator[Stack]:
    async with stack_on_new_database(service_root, postgres.dsn) as stack:
        yield stack


@pytest.fixture(scope="module")
async def agent(browser_stack: Stack) -> Agent:
    """An agent allowlisting `allowed.test`, whose customer has credits (so it answers)."""
    tenant = await browser_stack.create_tenant()
    async with browser_stack.client(tenant["api_key"]) as api:
        rules = {"rules": [{"type": "llm.tokens", "credits_per_unit": "0.001"}]}
        assert (await api.put("/v1/burn-tables/default", json=rules)).status_code == 200
        granted = await api.post("/v1/customers/site_1/grants", json={"amount": "1000", "id": "g1"})
        assert granted.status_code == 201, granted.text
        made = await api.post(
            "/v1/agents",
            json={
                "name": "Acme bot",
                "customer": "site_1",
                "allowed_domains": ["http://allowed.test"],
                "branding": BRANDING,
            },
        )
        assert made.status_code in (201, 202), made.text
        agent_id = made.json()["agent_id"]

        async def stored() -> bool:
            return (await api.get(f"/v1/agents/{agent_id}")).status_code == 200

        await eventually(stored, what="the agent to be stored")
    return Agent(agent_id=agent_id, gateway=browser_stack.url)


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Any]:
    if CHROMIUM is None:
        pytest.skip("chromium is not installed: `make test` installs Debian's chromium package")
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--host-resolver-rules=MAP *.test 127.0.0.1"]
        )
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture
async def context(browser: Any) -> AsyncIterator[Any]:
    """A fresh browser profile (empty localStorage) for one test."""
    made = await browser.new_context()
    made.set_default_timeout(15_000)
    try:
        yield made
    finally:
        await made.close()
