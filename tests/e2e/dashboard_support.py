"""What the dashboard's end-to-end tests share: a person at an address of their own, signing up, and the
tokens a page carries."""

from __future__ import annotations

import itertools
import re
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
