"""Dashboard accounts through the real stack: sign-up makes a tenant and its owner and signs them in;
the session cookie drives the API with its CSRF token; sign-in, sign-out, the password change and
throttling behave as a billing system's users expect."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from dashboard_support import PASSWORD, form_token, next_address, person, sign_up
from e2e_stack import Stack, eventually, stack_on_new_database

from infra.ports import free_port

LOGINS_PER_MINUTE = 4


@pytest.fixture(scope="module")
async def stack(service_root: Path, postgres: Any) -> AsyncIterator[Stack]:
    env = {"REVOS_LOGIN_PER_MINUTE": str(LOGINS_PER_MINUTE)}
    async with stack_on_new_database(service_root, postgres.dsn, gateway_env=env) as running:
        yield running


async def test_sign_up_creates_a_tenant_signs_in_and_the_session_drives_the_api(stack: Stack) -> None:
    async with person(stack) as browser:
        answer = await sign_up(browser, "Ada@Example.com")
        assert answer.status_code == 303 and answer.headers["location"] == "/dashboard", answer.text[:500]
        cookie = answer.headers["set-cookie"]
        assert (
            "revos_session=" in cookie
            and "HttpOnly" in cookie
            and "SameSite=lax" in cookie.replace("Lax", "lax")
        )
        assert "Secure" not in cookie  # served over plain http here; behind https it is Secure

        home = await browser.get("/dashboard")
        assert home.status_code == 200 and "ada@example.com" in home.text
        assert "Get your assistant live" in home.text and "0 of 5 steps done" in home.text
        csrf = re.search(r'data-csrf="([^"]+)"', home.text)
        assert csrf is not None

        # The API, with the cookie: reads need nothing more; writes need the page's CSRF token.
        listed = await browser.get("/v1/agents")
        assert listed.status_code == 200 and listed.json()["agents"] == []
        body = {"name": "Helper", "customer": "c1"}
        refused = await browser.post("/v1/agents", json=body)
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "csrf_failed"
        forged = await browser.post("/v1/agents", json=body, headers={"X-CSRF-Token": "not-the-token"})
        assert forged.status_code == 403
        made = await browser.post("/v1/agents", json=body, headers={"X-CSRF-Token": csrf.group(1)})
        assert made.status_code in (201, 202), made.text

        # Audit entries name the user, exactly as the API records them for a key.
        assert stack.pool is not None
        user_id = await stack.pool.fetchval("SELECT user_id FROM users WHERE email = 'ada@example.com'")
        entries = (await browser.get("/v1/audit")).json()["entries"]
        by_action = {e["action"]: e for e in entries}
        assert {"tenant.create", "user.create", "agent.create"} <= set(by_action)
        assert {by_action[a]["actor"] for a in ("tenant.create", "user.create", "agent.create")} == {
            f"user:{user_id}"
        }
        assert "password" not in orjson.dumps(entries).decode()

        # Sign out: the cookie no longer works, for pages or the API.
        page = await browser.get("/dashboard")
        out = await browser.post("/logout", data={"csrf_token": form_token(page)})
        assert out.status_code == 303 and out.headers["location"] == "/login"
        assert (await browser.get("/dashboard")).headers["location"].startswith("/login")
    async with httpx.AsyncClient(
        base_url=stack.url, timeout=30.0, cookies={"revos_session": "stolen"}
    ) as other:
        assert (await other.get("/v1/agents")).json()["error"]["code"] == "session_ended"


async def test_sign_in_refuses_wrong_passwords_alike_and_a_taken_email(stack: Stack) -> None:
    async with person(stack) as browser:
        assert (await sign_up(browser, "grace@example.com")).status_code == 303
    async with person(stack) as browser:
        again = await sign_up(browser, "GRACE@example.com", "Other org")
        assert again.status_code == 409 and "An account with this email exists" in again.text

        form = await browser.get("/login")
        wrong = await browser.post(
            "/login",
            data={"email": "grace@example.com", "password": "not it at all", "csrf_token": form_token(form)},
        )
        unknown = await browser.post(
            "/login",
            data={"email": "nobody@example.com", "password": PASSWORD, "csrf_token": form_token(form)},
        )
        assert wrong.status_code == unknown.status_code == 401
        assert (
            "That email and password do not match an account." in wrong.text
            and "not it at all" not in wrong.text
        )
        no_token = await browser.post("/login", data={"email": "grace@example.com", "password": PASSWORD})
        assert no_token.status_code == 403 and "expired" in no_token.text

        right = await browser.post(
            "/login",
            data={"email": "grace@example.com", "password": PASSWORD, "csrf_token": form_token(form),
                  "next": "https://evil.example/"},
        )  # fmt: skip
        assert right.status_code == 303 and right.headers["location"] == "/dashboard"


async def test_a_page_without_a_session_sends_you_to_sign_in_and_back(stack: Stack) -> None:
    async with person(stack) as browser:
        answer = await browser.get("/dashboard/account")
        assert (
            answer.status_code == 303 and answer.headers["location"] == "/login?next=%2Fdashboard%2Faccount"
        )
        login = await browser.get(answer.headers["location"])
        assert 'name="next" value="/dashboard/account"' in login.text
        assert login.headers["content-security-policy"].startswith("default-src 'self'")
        assert "frame-ancestors 'none'" in login.headers["content-security-policy"]


async def test_the_password_change_signs_out_other_sessions_and_the_old_password_stops_working(
    stack: Stack,
) -> None:
    async with (
        person(stack) as first,
        person(stack) as second,
    ):
        assert (await sign_up(first, "lin@example.com")).status_code == 303
        form = await second.get("/login")
        signed = await second.post(
            "/login", data={"email": "lin@example.com", "password": PASSWORD, "csrf_token": form_token(form)}
        )
        assert signed.status_code == 303
        page = await first.get("/dashboard/account")
        changed = await first.post(
            "/dashboard/account",
            data={
                "current_password": PASSWORD,
                "new_password": "a much newer secret",
                "csrf_token": form_token(page),
            },
        )
        assert changed.status_code == 200 and "Your password was changed" in changed.text
        assert (await first.get("/dashboard")).status_code == 200  # this session stays
        assert (await second.get("/dashboard")).status_code == 303  # the other one ended

        form = await second.get("/login")
        old = await second.post(
            "/login", data={"email": "lin@example.com", "password": PASSWORD, "csrf_token": form_token(form)}
        )
        new = await second.post(
            "/login",
            data={
                "email": "lin@example.com",
                "password": "a much newer secret",
                "csrf_token": form_token(form),
            },
        )
        assert old.status_code == 401 and new.status_code == 303


async def test_sign_in_attempts_are_throttled_per_email_and_per_address(stack: Stack) -> None:
    async def attempt(client: httpx.AsyncClient, email: str, **headers: str) -> httpx.Response:
        form = await client.get("/login", headers=headers)
        return await client.post(
            "/login",
            data={"email": email, "password": "guess guess", "csrf_token": form_token(form)},
            headers=headers,
        )

    # One email guessed from many addresses.
    async with person(stack) as client:
        many = [await attempt(client, "target@example.com", **{"X-Forwarded-For": next_address()})
                for _ in range(LOGINS_PER_MINUTE + 1)]  # fmt: skip
    # Many emails tried from one address.
    async with person(stack) as client:
        one = [await attempt(client, f"user{i}@example.com") for i in range(LOGINS_PER_MINUTE + 1)]
    for answers in (many, one):
        assert [a.status_code for a in answers] == [401] * LOGINS_PER_MINUTE + [429]
        assert "Too many attempts" in answers[-1].text and int(answers[-1].headers["retry-after"]) >= 1


async def test_operators_add_users_and_reset_passwords_from_the_command_line(stack: Stack) -> None:
    async with person(stack) as owner:
        assert (await sign_up(owner, "owner@example.com")).status_code == 303
        assert stack.pool is not None
        tenant_id = await stack.pool.fetchval("SELECT tenant_id FROM users WHERE email = 'owner@example.com'")

        made = stack.cli("user", "create", tenant_id, "Colleague@Example.com")
        assert made.returncode == 0, made.stderr
        created = orjson.loads(made.stdout)
        assert created["email"] == "colleague@example.com" and len(created["password"]) >= 20
        taken = stack.cli("user", "create", tenant_id, "owner@example.com")
        assert taken.returncode == 2 and "already has an account" in taken.stderr

        async with person(stack) as colleague:
            form = await colleague.get("/login")
            signed = await colleague.post(
                "/login",
                data={
                    "email": "colleague@example.com",
                    "password": created["password"],
                    "csrf_token": form_token(form),
                },
            )
            assert signed.status_code == 303
            # Same tenant: the colleague sees what the owner's tenant holds.
            assert (await colleague.get("/v1/agents")).status_code == 200

            reset = stack.cli("user", "reset-password", "colleague@example.com")
            assert reset.returncode == 0, reset.stderr
            assert (await colleague.get("/dashboard")).status_code == 303  # signed out everywhere
            form = await colleague.get("/login")
            old = await colleague.post(
                "/login",
                data={
                    "email": "colleague@example.com",
                    "password": created["password"],
                    "csrf_token": form_token(form),
                },
            )
            new = await colleague.post(
                "/login",
                data={
                    "email": "colleague@example.com",
                    "password": orjson.loads(reset.stdout)["password"],
                    "csrf_token": form_token(form),
                },
            )
            assert old.status_code == 401 and new.status_code == 303


async def test_a_gateway_with_sign_up_closed_refuses_new_tenants_and_still_signs_people_in(
    stack: Stack,
) -> None:
    async with person(stack) as owner:
        assert (await sign_up(owner, "existing@example.com")).status_code == 303
    port = free_port()
    closed = stack.spawn_gateway(
        "gateway-closed", {"REVOS_SIGNUP": "closed", "REVOS_GATEWAY_PORT": str(port)}
    )
    try:
        url = f"http://127.0.0.1:{port}"
        await stack.wait_ready(url=url)
        async with httpx.AsyncClient(base_url=url, timeout=30.0) as visitor:
            page = await visitor.get("/signup")
            assert (
                "Sign-up is closed on this installation" in page.text
                and 'name="organization"' not in page.text
            )
            tried = await visitor.post(
                "/signup",
                data={
                    "organization": "Sneaky",
                    "email": "sneaky@example.com",
                    "password": PASSWORD,
                    "csrf_token": "x",
                },
            )
            assert tried.status_code == 403
            assert await stack.pool.fetchval("SELECT 1 FROM users WHERE email = 'sneaky@example.com'") is None  # type: ignore[union-attr]
            login = await visitor.get("/login")
            assert "Sign up" not in login.text
            signed = await visitor.post(
                "/login",
                data={"email": "existing@example.com", "password": PASSWORD, "csrf_token": form_token(login)},
            )
            assert signed.status_code == 303
    finally:
        closed.stop(10)


async def test_the_checklist_says_where_the_widget_was_seen_and_offers_to_allow_a_refused_site(
    stack: Stack,
) -> None:
    site = "https://shop.example.com"
    async with person(stack) as owner:
        assert (await sign_up(owner, "embed@example.com")).status_code == 303
        csrf = re.search(r'data-csrf="([^"]+)"', (await owner.get("/dashboard")).text)
        assert csrf is not None
        made = await owner.post(
            "/v1/agents", json={"name": "Helper"}, headers={"X-CSRF-Token": csrf.group(1)}
        )
        agent_id = made.json()["agent_id"]

        async def session_from(origin: str) -> int:
            answer = await owner.post(
                "/v1/widget/sessions", json={"agent_id": agent_id}, headers={"Origin": origin}
            )
            return answer.status_code

        assert await session_from(site) == 403  # not in the allowlist yet

        async def warned() -> str | None:
            page = (await owner.get("/dashboard")).text
            return page if f"Helper was loaded on {site}" in page else None

        page = await eventually(warned, what="the refused site to show on the checklist")
        assert "Add shop.example.com to the allowlist" in page and "Paste the snippet on your site" in page

        allowed = await owner.patch(
            f"/v1/agents/{agent_id}",
            json={"allowed_domains": ["shop.example.com"]},
            headers={"X-CSRF-Token": csrf.group(1)},
        )
        assert allowed.status_code in (200, 202)
        assert await session_from(site) == 201

        async def seen() -> str | None:
            page = (await owner.get("/dashboard")).text
            return page if f"Seen on {site} ✓" in page else None

        page = await eventually(seen, what="the allowed site to turn the snippet step green")
        assert f"Helper was loaded on {site}" not in page
