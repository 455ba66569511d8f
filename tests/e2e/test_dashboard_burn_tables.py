"""The Burn tables pages through the real stack: an empty state with a starter, the tenant's tables, one
table's newest version side by side with an older one, the forms' API with the session's CSRF token,
another tenant's table missing, and sign-in first."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from dashboard_support import csrf_of, person, sign_up
from e2e_stack import Stack, stack_on_new_database
from test_burn_tables import V1, V2


@pytest.fixture(scope="module")
async def stack(service_root: Path, postgres: Any) -> AsyncIterator[Stack]:
    async with stack_on_new_database(service_root, postgres.dsn) as running:
        yield running


async def test_the_pages_show_the_tables_side_by_side_to_their_tenant_only(stack: Stack) -> None:
    async with person(stack) as ada, person(stack) as bob:
        assert (await sign_up(ada, "ada.burn@example.com", "Ada Co")).status_code == 303
        assert (await sign_up(bob, "bob.burn@example.com", "Bob Co")).status_code == 303

        empty = await ada.get("/dashboard/burn-tables")
        assert empty.status_code == 200 and "No burn tables yet" in empty.text
        assert "Create burn table" in empty.text and "research.completed" in empty.text  # the starter
        assert 'data-api="PUT /v1/burn-tables/{name}"' in empty.text

        # What the page's forms send: the API, with the session's cookie and CSRF token.
        headers = {"X-CSRF-Token": csrf_of(empty)}
        made = await ada.put("/v1/burn-tables/default", json={"rules": V1}, headers=headers)
        assert made.status_code == 200, made.text
        bad = await ada.put(
            "/v1/burn-tables/default", json={"rules": [V1[0], V1[0]]}, headers=headers
        )  # the API's message is what the form shows
        assert bad.status_code == 400 and "repeats rules[0]" in bad.json()["error"]["message"]
        again = await ada.put("/v1/burn-tables/default", json={"rules": V2}, headers=headers)
        assert again.status_code == 200, again.text

        listed = await ada.get("/dashboard/burn-tables")
        assert (
            "No burn tables yet" not in listed.text and 'href="/dashboard/burn-tables/default"' in listed.text
        )
        assert "v2" in listed.text

        page = await ada.get("/dashboard/burn-tables/default")
        assert page.status_code == 200
        assert "Version 2 next to version 1" in page.text
        for mark in ("New rule", "Removed", "Changed", "Same"):
            assert mark in page.text, mark
        assert "What would this event cost" in page.text and "Publish version" in page.text
        assert 'data-api="POST /v1/burn-tables/default/preview"' in page.text
        assert (await ada.get("/dashboard/burn-tables/default?compare=1")).status_code == 200

        audit = (await ada.get("/v1/audit", params={"action": "burn_table.publish"})).json()["entries"]
        assert [e["after"]["version"] for e in audit] == [1, 2] and audit[0]["actor"].startswith("user:")

        # Another tenant's table is missing to Bob, and the pages want a session.
        stranger = await bob.get("/dashboard/burn-tables/default")
        assert stranger.status_code == 404 and "No such burn table" in stranger.text
        assert "No burn tables yet" in (await bob.get("/dashboard/burn-tables")).text
    async with person(stack) as nobody:
        for path in ("/dashboard/burn-tables", "/dashboard/burn-tables/default"):
            answer = await nobody.get(path)
            assert answer.status_code == 303 and answer.headers["location"].startswith("/login?next=")
