"""What the dashboard's end-to-end tests share: a person at an address of their own, signing up, and the
tokens a page carries."""

from __future__ import annotations

import contextlib
import itertools
import re
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import httpx
from e2e_stack import Stack

PASSWORD = "correct horse battery"
_ADDRESSES = (f"203.0.113.{i}" for i in itertools.count(1))


def next_address() -> str:
    return next(_ADDRESSES)


def person(stack: Stack, **kwargs: Any) -> httpx.AsyncClient:
    """A person at an address of their own (the gateway believes the local proxy's X-Forwarded-For), so
    one test's sign-ins do not count against another's."""
    headers = {"X-Forwarded-For": next_address()}
    return httpx.AsyncClient(base_url=stack.url, timeout=30.0, headers=headers, **kwargs)


def form_token(page: httpx.Response) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found, page.text[:500]
    return found.group(1)


async def sign_up(client: httpx.AsyncClient, email: str, organization: str = "Acme") -> httpx.Response:
    form = await client.get("/signup")
    return await client.post(
        "/signup",
        data={
            "organization": organization,
            "email": email,
            "password": PASSWORD,
            "csrf_token": form_token(form),
        },
    )


def csrf_of(page: httpx.Response) -> str:
    """The CSRF token a signed-in page carries for its forms."""
    found = re.search(r'data-csrf="([^"]+)"', page.text)
    assert found, page.text[:300]
    return found.group(1)


USAGE_CUSTOMERS = [f"cust-{i}" for i in range(1, 8)]  # seven: the five largest get lines, two are "others"


def past_usage(now: datetime) -> list[dict[str, Any]]:
    """Seven customers' tokens over the last five days (with gaps), and searches of one of them."""
    events: list[dict[str, Any]] = []
    for back in range(5):
        at = (now - timedelta(days=back, minutes=5)).isoformat()
        for i, customer in enumerate(USAGE_CUSTOMERS, start=1):
            if (i + back) % 3 == 0:
                continue
            quantity = str(1000 * i + 7 * back)
            events.append({"id": f"t-{i}-{back}", "customer": customer, "type": "llm.tokens",
                           "timestamp": at, "quantity": quantity})  # fmt: skip
        events.append({"id": f"s-{back}", "customer": "cust-1", "type": "search", "timestamp": at,
                       "quantity": str(back + 1)})  # fmt: skip
    return events


def past_prices(now: datetime) -> dict[str, Any]:
    """A default burn table for `past_usage`, in force from before its first event."""
    return {
        "effective_at": (now - timedelta(days=20)).isoformat(),
        "rules": [{"type": "llm.tokens", "credits_per_unit": "0.001"},
                  {"type": "search", "credits_per_unit": "0.25"}],
    }  # fmt: skip


@contextlib.asynccontextmanager
async def owner(stack: Stack, email: str) -> AsyncIterator[httpx.AsyncClient]:
    """A new tenant's owner, signed in; the client sends the session's CSRF token as the pages' forms do."""
    async with person(stack) as browser:
        assert (await sign_up(browser, email)).status_code == 303
        home = await browser.get("/dashboard")
        csrf = re.search(r'data-csrf="([^"]+)"', home.text)
        assert csrf is not None
        browser.headers["X-CSRF-Token"] = csrf.group(1)
        yield browser
