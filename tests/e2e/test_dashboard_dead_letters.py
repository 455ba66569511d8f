"""The Dead letters pages through the real stack: the empty state, the tenant's refused events counted
by reason and filtered by code, one inspected with its dry run and replay forms, another tenant's
missing, and sign-in first."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from dashboard_support import csrf_of, person, sign_up
from e2e_stack import Stack, stack_on_new_database
from test_tenant_dead_letters import listed


@pytest.fixture(scope="module")
async def stack(service_root: Path, postgres: Any) -> AsyncIterator[Stack]:
    async with stack_on_new_database(service_root, postgres.dsn) as running:
        yield running


async def test_the_pages_list_inspect_and_replay_for_their_tenant_only(stack: Stack) -> None:
    async with person(stack) as ada, person(stack) as bob:
        assert (await sign_up(ada, "ada.dlq@example.com", "Ada Co")).status_code == 303
        assert (await sign_up(bob, "bob.dlq@example.com", "Bob Co")).status_code == 303
        empty = await ada.get("/dashboard/dead-letters")
        assert empty.status_code == 200
        assert "No rejected events — everything you sent was accepted" in empty.text

        headers = {"X-CSRF-Token": csrf_of(empty)}
        sent = await ada.post(
            "/v1/events",
            json={"events": [{"id": "p1", "customer": "c1", "type": "t", "quantity": "-1"},
                             {"id": "p2", "customer": "c1", "type": "t", "timestamp": "yesterday"}]},
            headers=headers,
        )  # fmt: skip
        assert sent.json()["rejected"] == 2
        rows = (await listed(ada, 2))["dead_letters"]
        page = await ada.get("/dashboard/dead-letters")
        assert "negative_decimal" in page.text and "invalid_timestamp" in page.text and "p1" in page.text
        assert "No rejected events" not in page.text
        filtered = await ada.get("/dashboard/dead-letters?code=negative_decimal")
        assert "p1" in filtered.text and ">p2<" not in filtered.text

        target = next(r for r in rows if r["event_id"] == "p1")
        detail = await ada.get(f"/dashboard/dead-letters/{target['dead_letter_id']}")
        assert detail.status_code == 200
        assert "quantity must not be negative" in detail.text and "What you sent" in detail.text
        assert "Dry run" in detail.text and ">Replay<" in detail.text
        assert f'data-api="POST /v1/dead-letters/{target["dead_letter_id"]}/replay"' in detail.text
        # The page's dry-run form, as dashboard.js sends it.
        dry = await ada.post(
            f"/v1/dead-letters/{target['dead_letter_id']}/replay", json={"dry_run": True}, headers=headers
        )
        assert dry.status_code == 200 and dry.json()["check"]["code"] == "negative_decimal"
        assert (
            await ada.post(f"/v1/dead-letters/{target['dead_letter_id']}/replay", json={"dry_run": True})
        ).status_code == 403

        stranger = await bob.get(f"/dashboard/dead-letters/{target['dead_letter_id']}")
        assert stranger.status_code == 404 and "No such dead letter" in stranger.text
        assert "No rejected events" in (await bob.get("/dashboard/dead-letters")).text
        assert (await bob.get(f"/v1/dead-letters/{target['dead_letter_id']}")).status_code == 404
    async with person(stack) as nobody:
        for path in ("/dashboard/dead-letters", f"/dashboard/dead-letters/{target['dead_letter_id']}"):
            answer = await nobody.get(path)
            assert answer.status_code == 303 and answer.headers["location"].startswith("/login?next=")
