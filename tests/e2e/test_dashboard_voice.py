"""The dashboard's voice pages through the real stack: an agent's phone line and the tenant's Twilio
account on the agent's page, the calls list (by agent, by state, the failed ones, a page at a time) and
one call's page (its end reason in words, its history, its transcript with an interrupted reply), and
another tenant's calls not found. Calls are published to the broker as the gateway records them, and
reach the pages through the worker's projection."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from call_facts import CALLER, LINE, answered_call, dropped_call, fact
from call_records import SPOKEN, publish, turns
from dashboard_support import csrf_of, person, sign_up
from e2e_stack import Stack, eventually, stack_on_new_database

from pipeline.voice import calls

NUMBER = "+14155550190"
ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "f" * 32


@pytest.fixture(scope="module")
async def stack(service_root: Path, postgres: Any) -> AsyncIterator[Stack]:
    async with stack_on_new_database(service_root, postgres.dsn) as running:
        yield running


class Person:
    """A signed-in dashboard user, calling the API as the dashboard's forms do."""

    def __init__(self, browser: httpx.AsyncClient, csrf: str) -> None:
        self.browser = browser
        self.csrf = csrf

    async def api(self, method: str, path: str, body: Any = None) -> httpx.Response:
        return await self.browser.request(method, path, json=body, headers={"X-CSRF-Token": self.csrf})

    async def agent(self, name: str = "Phone helper", **body: Any) -> str:
        made = await self.api("POST", "/v1/agents", {"template": "support", "name": name, **body})
        assert made.status_code == 201, made.text
        agent_id: str = made.json()["agent_id"]
        return agent_id

    async def page(self, path: str) -> str:
        answer = await self.browser.get(path)
        assert answer.status_code == 200, (path, answer.status_code)
        return html.unescape(answer.text)


async def signed_up(browser: httpx.AsyncClient, email: str) -> Person:
    assert (await sign_up(browser, email)).status_code == 303
    return Person(browser, csrf_of(await browser.get("/dashboard")))


async def tenant_of(stack: Stack, agent_id: str) -> str:
    assert stack.pool is not None
    tenant_id: str = await stack.pool.fetchval(
        "SELECT tenant_id FROM assistants WHERE agent_id = $1", agent_id
    )
    return tenant_id


async def shown(stack: Stack, browser: httpx.AsyncClient, path: str, *texts: str) -> str:
    """The page once it shows every one of `texts` (the worker projects calls a moment after they are published)."""
    page = ""

    async def has_it() -> bool:
        nonlocal page
        page = html.unescape((await browser.get(path)).text)
        return all(text in page for text in texts)

    await eventually(has_it, timeout=30, every=0.25, what=f"{path} to show {texts!r}")
    return page


def call_rows(page: str) -> list[str]:
    return re.findall(r'href="/dashboard/calls/(CA\w+)"', page)


async def test_signed_out_calls_pages_send_you_to_sign_in(stack: Stack) -> None:
    async with person(stack) as browser:
        for path in ("/dashboard/calls", "/dashboard/calls/CA0123"):
            answer = await browser.get(path)
            assert answer.status_code == 303, path
            assert answer.headers["location"] == "/login?next=" + path.replace("/", "%2F")


async def test_a_phone_line_and_the_twilio_account_are_set_shown_and_removed(stack: Stack) -> None:
    async with person(stack) as browser:
        ada = await signed_up(browser, "ada.voice@example.com")
        agent_id = await ada.agent()
        page = await ada.page(f"/dashboard/agents/{agent_id}")
        assert "No phone line yet" in page
        assert f'value="{stack.url}/v1/voice/twilio/incoming"' in page
        assert f'value="{stack.url}/v1/voice/twilio/status"' in page
        assert "Not set</span> Calls are refused until you enter your Twilio account" in page
        assert f'data-api="PATCH /v1/agents/{agent_id}" data-reveal="phone-saved"' in page
        assert 'data-api="PUT /v1/voice/twilio"' in page
        for label in ("Phone number", "Language", "Text-to-speech provider", "Voice", "Transcription provider",
                      "Welcome greeting", "Longest call (seconds)", "Status webhook URL"):  # fmt: skip
            assert f">{label}</label>" in page, label
        assert "Remove phone line" not in page  # nothing to remove yet

        # What the phone line form sends: every field, as the API replaces the whole line.
        line = {
            "phone_number": NUMBER, "language": "fr-FR", "tts_provider": "Google", "voice": "fr-FR-Neural2-A",
            "transcription_provider": "Google", "welcome_greeting": "Bonjour ! Que puis-je faire pour vous ?",
            "interruptible": False, "max_call_seconds": 300, "status_webhook_url": "https://hooks.example.com/calls",
        }  # fmt: skip
        saved = await ada.api("PATCH", f"/v1/agents/{agent_id}", {"voice": line})
        assert saved.status_code == 200, saved.text
        secret = saved.json()["voice"]["status_webhook_secret"]
        assert secret.startswith("whsec_")
        page = await ada.page(f"/dashboard/agents/{agent_id}")
        assert "No phone line yet" not in page
        for fact in (f"Calls to <strong>{NUMBER}</strong> reach this agent", "<dd>fr-FR</dd>",
                     "Google · voice <code class=\"wrap\">fr-FR-Neural2-A</code>",
                     "Bonjour ! Que puis-je faire pour vous ?", "No: each reply is said to the end",
                     "<dd>300 seconds</dd>", "<code>https://hooks.example.com/calls</code> · signing secret set"):  # fmt: skip
            assert fact in page, fact
        assert secret not in page  # shown once, in the API's answer, never by the page
        assert 'id="voice-phone_number" name="voice.phone_number" type="tel"' in page
        assert f'value="{NUMBER}"' in page and 'value="300"' in page
        assert '<option value="Google" selected>' in page
        assert f'href="/dashboard/calls?agent_id={agent_id}"' in page

        # The Twilio account: its SID shows, its token never does.
        put = await ada.api("PUT", "/v1/voice/twilio", {"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN})
        assert put.status_code == 200, put.text
        page = await ada.page(f"/dashboard/agents/{agent_id}")
        assert f'Set</span> Account <code class="wrap">{ACCOUNT_SID}</code>' in page
        assert AUTH_TOKEN not in page
        assert "Replace Twilio account" in page

        # Remove: the form sends {"voice": null}.
        assert f'data-confirm="Remove the phone line {NUMBER}?' in page
        assert '<input type="hidden" name="voice" data-type="null-empty" value="">' in page
        removed = await ada.api("PATCH", f"/v1/agents/{agent_id}", {"voice": None})
        assert removed.status_code == 200 and removed.json()["voice"] is None
        page = await ada.page(f"/dashboard/agents/{agent_id}")
        assert "No phone line yet" in page and "Remove phone line" not in page


async def test_calls_list_detail_filters_and_failed_calls(stack: Stack) -> None:
    async with person(stack) as browser:
        bea = await signed_up(browser, "bea.voice@example.com")
        empty = await bea.page("/dashboard/calls")
        assert "No calls yet — give an agent a phone line, then call it" in empty
        assert "<table" not in empty
        assert '<a href="/dashboard/calls" aria-current="page">Calls</a>' in empty  # the main nav

        shop = await bea.agent("Shop line", voice={"phone_number": LINE})
        desk = await bea.agent("Help desk", voice={"phone_number": "+14155550102"})
        tenant = await tenant_of(stack, shop)
        talked, dropped = "CA" + "a1" * 16, "CA" + "b2" * 16
        facts = answered_call(talked, customer=None, tenant=tenant, agent=shop)
        facts += dropped_call(dropped, customer=None, tenant=tenant, agent=desk)
        await publish(stack, facts, turns(tenant, shop, talked))

        listed = await shown(stack, browser, "/dashboard/calls", "dropped", "agent ended")
        assert call_rows(listed) == [dropped, talked]  # started together: the later SID first
        assert "No calls yet" not in listed
        row = re.search(rf'/dashboard/calls/{talked}".*?</tr>', listed, re.S)
        assert row is not None
        for cell in ("Shop line", CALLER, LINE, "Completed", "1 min 31 s", "agent ended"):
            assert cell in row.group(0), cell
        assert '<span class="badge warn">dropped</span>' in listed

        # One agent, one state, the failed ones.
        only_desk = await bea.page(f"/dashboard/calls?agent_id={desk}")
        assert call_rows(only_desk) == [dropped]
        failed = await bea.page("/dashboard/calls?failed=true")
        assert call_rows(failed) == [dropped]
        assert '<a href="/dashboard/calls?failed=true" aria-current="page">Failed calls</a>' in failed
        assert call_rows(await bea.page("/dashboard/calls?state=busy")) == []
        assert "No calls match these filters" in await bea.page("/dashboard/calls?state=busy")
        bad = await bea.page("/dashboard/calls?state=exploded")
        assert "Choose one of the states in the list." in bad

        # The answered call: its facts, why it ended, its history and its transcript.
        call = await shown(
            stack, browser, f"/dashboard/calls/{talked}", "It left our warehouse", "Twilio: Completed"
        )
        for fact in (f"Call from {CALLER}", f"<dd>{LINE}</dd>", ">Shop line</a>", "<dd>Completed</dd>",
                     "<dd>1 min 31 s</dd>", "Why it ended: agent ended",
                     "Agent ended: the agent finished the call (it said goodbye and hung up).",
                     "The caller spoke over the agent's reply after hearing “Our opening”",
                     '<span class="badge warn">Interrupted</span>',
                     "The caller heard: “Our opening”, cut after 900 ms",
                     "<strong>Caller</strong>", "<strong>Agent</strong>", "first words after 405 ms"):  # fmt: skip
            assert fact in call, fact
        history = [
            "Twilio: Ringing", "Twilio: In progress", "The agent took the call",
            "The caller spoke over the agent's reply", "The caller pressed 5", "The agent ended the call: agent ended",
            "Twilio ended the agent's session (completed)", "Twilio: Completed",
        ]  # fmt: skip
        at = [call.index(h) for h in history]
        assert at == sorted(at), history
        said = [call.index(content) for _, content, _ in SPOKEN]
        assert said == sorted(said)
        assert call.count("Interrupted</span>") == 1  # only the reply the caller spoke over
        assert f'href="/dashboard/conversations/conv-{talked}"' in call

        # The dropped call: explained in words, and marked as a failure.
        lost = await bea.page(f"/dashboard/calls/{dropped}")
        assert "Dropped: the connection to the call was lost before anyone ended it." in lost
        assert '<section class="card warning" aria-labelledby="end-title">' in lost
        assert "The connection to the agent closed without an end" in lost
        assert "Twilio ended the agent's session (failed)" in lost
        assert "Nothing was said" in lost


async def test_calls_come_a_page_at_a_time(stack: Stack) -> None:
    async with person(stack) as browser:
        cy = await signed_up(browser, "cy.voice@example.com")
        agent_id = await cy.agent("Busy line", voice={"phone_number": "+14155550103"})
        tenant = await tenant_of(stack, agent_id)
        many = [f"CA{i:032x}" for i in range(27)]  # each a second before the one before it
        ringing = {"state": calls.RINGING, "from_number": CALLER, "to_number": "+14155550103"}
        await publish(
            stack,
            [fact(sid, calls.STATE, -i, calls.RINGING, tenant=tenant, agent=agent_id, **ringing)
             for i, sid in enumerate(many)],
        )  # fmt: skip

        async def all_projected() -> bool:
            assert stack.pool is not None
            return await stack.pool.fetchval("SELECT count(*) FROM calls WHERE tenant_id = $1", tenant) == 27

        await eventually(all_projected, timeout=30, what="27 calls projected")
        first = await cy.page("/dashboard/calls")
        assert call_rows(first) == many[:25]
        older = re.search(r'href="\?([^"]+)" rel="next">Older calls</a>', first)
        assert older, first
        second = await cy.page("/dashboard/calls?" + html.unescape(older.group(1)))
        assert call_rows(second) == many[25:]
        assert 'rel="next"' not in second and ">Newest</a>" in second
        stale = await cy.page("/dashboard/calls?cursor=not-a-cursor")
        assert "That page link is out of date; here are the newest calls." in stale
        assert call_rows(stale) == many[:25]


async def test_another_tenants_call_is_not_found(stack: Stack) -> None:
    async with person(stack) as one, person(stack) as other:
        dee = await signed_up(one, "dee.voice@example.com")
        eve = await signed_up(other, "eve.voice@example.com")
        agent_id = await dee.agent("Private line", voice={"phone_number": "+14155550104"})
        call = "CA" + "c3" * 16
        tenant = await tenant_of(stack, agent_id)
        await publish(stack, dropped_call(call, customer=None, tenant=tenant, agent=agent_id))
        await shown(stack, one, f"/dashboard/calls/{call}", "Dropped: the connection", "Twilio: Completed")

        for path in (f"/dashboard/calls/{call}", f"/dashboard/agents/{agent_id}"):
            answer = await other.get(path)
            assert answer.status_code == 404, path
            assert call not in answer.text and CALLER not in answer.text
        assert call not in await eve.page("/dashboard/calls")
        assert call not in await eve.page(f"/dashboard/calls?agent_id={agent_id}&failed=true")
        assert (await other.get("/dashboard/calls/CA_missing")).status_code == 404
