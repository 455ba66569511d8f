"""The widget in a real browser: embedded on allowlisted and foreign sites, by mouse and by keyboard, under
hostile host CSS, framed, and on a phone-sized screen. Chromium (Debian's) driven by Playwright."""

from __future__ import annotations

import itertools
import json
import re
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote

import httpx
import pytest
from browser_support import BRANDING, CHROMIUM, Agent, Site
from playwright.async_api import expect

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed: `make test` installs it"),
]

REPLY = '[offline demo] No AI model is configured, so this is a canned reply to: "{}"'
HOSTILE_CSS = (
    "<style>* { color: red !important; font-size: 40px !important }"
    " button { display: none !important }</style>"
)

# Records every text the streaming bubble shows, from inside the page, so no delta goes unseen.
WATCH_STREAM = """() => {
  window.streamed = [];
  const shadow = document.querySelector("revos-chat").shadowRoot;
  new MutationObserver(() => {
    const bubble = shadow.querySelector("[data-streaming]");
    if (bubble && bubble.textContent !== window.streamed[window.streamed.length - 1]) {
      window.streamed.push(bubble.textContent);
    }
  }).observe(shadow, {subtree: true, childList: true, characterData: true});
}"""


def host_page(site: Site, path: str, body: str, head: str = "") -> str:
    site.pages[path] = (
        f"<!doctype html><html><head><title>Host</title>{head}</head><body>{body}</body></html>"
    )
    return path


def is_session(response: Any) -> bool:
    return "/v1/widget/sessions" in response.url and response.request.method == "POST"


async def open_widget(page: Any, status: int) -> None:
    """Click the launcher; the session request must answer `status`."""
    async with page.expect_response(is_session) as answer:
        await page.locator("revos-chat .launcher").click()
    assert (await answer.value).status == status


async def test_the_widget_streams_a_reply_and_the_conversation_survives_a_reload(
    context: Any, site: Site, agent: Agent
) -> None:
    page = await context.new_page()
    await page.goto(site.url("allowed.test", host_page(site, "/shop", "<h1>Shop</h1>" + agent.script_tag())))
    await open_widget(page, 201)

    await expect(page.locator("header h2")).to_have_text(BRANDING["title"])
    await expect(page.locator(".b.assistant").first).to_have_text(BRANDING["greeting"])
    await expect(page.locator(".chip")).to_have_text(BRANDING["suggestions"])
    await expect(page.locator(".launcher")).to_have_css("background-color", "rgb(15, 118, 110)")  # #0f766e

    await page.evaluate(WATCH_STREAM)
    await page.locator("textarea").fill("hello widget")
    await page.keyboard.press("Enter")
    reply = page.locator('.b.assistant[data-seq="2"]')
    await expect(reply).to_have_text(REPLY.format("hello widget"))
    await expect(page.locator('.b.user[data-seq="1"]')).to_have_text("hello widget")
    streamed: list[str] = await page.evaluate("window.streamed")
    assert len(streamed) >= 5, streamed  # word by word, not all at once
    assert all(a != b and b.startswith(a) for a, b in itertools.pairwise(streamed)), streamed
    assert REPLY.format("hello widget").startswith(streamed[-1])
    await expect(page.locator(".chips")).to_be_hidden()  # suggestions go once the visitor has spoken

    await page.reload()
    async with page.expect_response(is_session):
        await page.locator(".launcher").click()
    await expect(page.locator(".b[data-seq]")).to_have_text(["hello widget", REPLY.format("hello widget")])
    await expect(page.locator(".b[data-pending], [data-streaming]")).to_have_count(0)


async def test_a_send_cut_off_by_a_lost_connection_is_retried_with_the_same_id(
    context: Any, site: Site, agent: Agent
) -> None:
    page = await context.new_page()
    sends: list[str] = []

    async def cut_the_first_send(socket: Any) -> None:
        server = socket.connect_to_server()

        async def from_page(message: str | bytes) -> None:
            frame = json.loads(message)
            if frame["type"] == "send":
                sends.append(frame["client_message_id"])
                if len(sends) == 1:  # the connection drops before the server sees it
                    await socket.close(code=1000, reason="cut")
                    return
            server.send(message)

        socket.on_message(from_page)

    await page.route_web_socket(re.compile(r"/v1/chat"), cut_the_first_send)
    await page.goto(site.url("allowed.test", host_page(site, "/retry", agent.script_tag())))
    await open_widget(page, 201)
    await page.locator("textarea").fill("are you there")
    await page.keyboard.press("Enter")

    retry = page.get_by_role("button", name="Retry")
    await expect(retry).to_be_visible()
    await expect(page.locator("[data-pending]")).to_contain_text("Not sent.")
    await retry.click()
    await expect(page.locator(".b[data-seq]")).to_have_text(["are you there", REPLY.format("are you there")])
    await expect(page.locator("[data-pending]")).to_have_count(0)
    assert len(sends) == 2 and sends[0] == sends[1], sends


async def test_a_refused_socket_waits_as_long_as_the_server_said_before_reconnecting(
    context: Any, site: Site, agent: Agent
) -> None:
    page = await context.new_page()
    opened: list[float] = []

    async def refuse_the_first(socket: Any) -> None:
        opened.append(time.monotonic())
        if len(opened) == 1:  # as a gateway does when one address opened too many sockets
            refusal = {"type": "error", "code": "rate_limited", "message": "too many", "retry_after": 3}
            socket.send(json.dumps(refusal))
            await socket.close(code=4429, reason="too many sockets")
            return
        socket.connect_to_server()

    await page.route_web_socket(re.compile(r"/v1/chat"), refuse_the_first)
    await page.goto(site.url("allowed.test", host_page(site, "/limited", agent.script_tag())))
    await open_widget(page, 201)
    notice = page.get_by_text(re.compile("Too many connections from your network. Reconnecting in 3 s"))
    await expect(notice).to_be_visible()
    await page.locator("textarea").fill("still there")
    await page.keyboard.press("Enter")
    await expect(page.locator(".b[data-seq]")).to_have_text(
        ["still there", REPLY.format("still there")], timeout=20_000
    )
    assert len(opened) == 2 and opened[1] - opened[0] >= 2.9, opened  # not the usual half-second backoff


async def test_the_widget_renews_its_session_before_the_token_expires(
    context: Any, site: Site, agent: Agent
) -> None:
    page = await context.new_page()
    sessions: list[str] = []
    sockets: list[str] = []

    async def first_one_short_lived(route: Any) -> None:
        response = await route.fetch()
        answer = await response.json()
        sessions.append(answer["token"])
        if len(sessions) == 1:  # as if issued 14 minutes ago: a minute and two seconds left
            answer["expires_at"] = (datetime.now(UTC) + timedelta(seconds=62)).isoformat()
        await route.fulfill(response=response, json=answer)

    await page.route("**/v1/widget/sessions", first_one_short_lived)
    page.on("websocket", lambda socket: sockets.append(socket.url))
    await page.goto(site.url("allowed.test", host_page(site, "/renew", agent.script_tag())))
    await open_widget(page, 201)
    await page.locator("textarea").fill("before")
    await page.keyboard.press("Enter")
    await expect(page.locator(".b[data-seq]")).to_have_text(["before", REPLY.format("before")])
    deadline = time.monotonic() + 20
    while len(sockets) < 2 and time.monotonic() < deadline:
        await page.wait_for_timeout(100)
    assert len(sessions) == 2 and len(sockets) == 2, (sessions, sockets)
    assert sessions[1] in unquote(sockets[1]) and sessions[0] in unquote(sockets[0])
    await page.locator("textarea").fill("after")
    await page.keyboard.press("Enter")
    await expect(page.locator(".b[data-seq]")).to_have_text(
        ["before", REPLY.format("before"), "after", REPLY.format("after")]
    )
    await expect(page.locator("[data-pending]")).to_have_count(0)


async def test_a_site_outside_the_allowlist_gets_no_session_and_is_told_why(
    context: Any, site: Site, agent: Agent
) -> None:
    page = await context.new_page()
    await page.goto(site.url("blocked.test", host_page(site, "/blocked", agent.script_tag())))
    await open_widget(page, 403)

    error = page.locator('[role="alert"]')
    await expect(error).to_have_text("This site is not allowed to use this assistant (origin_not_allowed)")
    await expect(page.locator("textarea")).to_be_hidden()
    await expect(page.locator(".chips")).to_be_hidden()


async def test_the_widget_works_with_the_keyboard_alone(context: Any, site: Site, agent: Agent) -> None:
    page = await context.new_page()
    await page.goto(site.url("allowed.test", host_page(site, "/keys", agent.script_tag())))
    launcher = page.locator(".launcher")
    await expect(launcher).to_be_attached()

    await page.keyboard.press("Tab")
    await expect(launcher).to_be_focused()
    await expect(launcher).to_have_attribute("aria-expanded", "false")
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("dialog", name="Chat with Acme help")).to_be_visible()
    await expect(page.get_by_role("textbox", name="Message")).to_be_focused()
    await expect(launcher).to_have_attribute("aria-expanded", "true")

    await page.keyboard.type("first line")
    await page.keyboard.press("Shift+Enter")
    await page.keyboard.type("second line")
    await page.keyboard.press("Enter")
    await expect(page.locator('.b.user[data-seq="1"]')).to_have_text("first line\nsecond line")
    await expect(page.locator("textarea")).to_have_value("")
    await expect(page.locator('.b.assistant[data-seq="2"]')).to_contain_text("[offline demo]")

    await page.keyboard.press("Escape")
    await expect(page.get_by_role("dialog")).to_be_hidden()
    await expect(launcher).to_be_focused()
    await expect(launcher).to_have_attribute("aria-expanded", "false")


async def test_host_page_css_does_not_reach_the_widget_nor_the_widget_css_the_page(
    context: Any, site: Site, agent: Agent
) -> None:
    page = await context.new_page()
    # The host's own elements use the widget's class names: the widget's styles must not touch them.
    probe = '<p class="launcher panel b user" id="probe">host text</p>'
    path = host_page(site, "/hostile", probe + agent.script_tag(), head=HOSTILE_CSS)
    await page.goto(site.url("allowed.test", path))

    launcher = page.locator("revos-chat .launcher")
    await expect(launcher).to_be_visible()
    box = await launcher.bounding_box()
    assert box is not None and (box["width"], box["height"]) == (56, 56)
    await open_widget(page, 201)
    greeting = page.locator("revos-chat .b.assistant").first
    await expect(greeting).to_have_text(BRANDING["greeting"])
    # Retrying assertions: the greeting bubble is drawn again when the conversation opens.
    await expect(greeting).to_have_css("color", "rgb(31, 35, 40)")
    await expect(greeting).to_have_css("font-size", "14px")
    await expect(page.locator(".send")).to_be_visible()

    host = await page.locator("#probe").evaluate(
        "e => [getComputedStyle(e).color, getComputedStyle(e).position, getComputedStyle(e).backgroundColor]"
    )
    assert host == ["rgb(255, 0, 0)", "static", "rgba(0, 0, 0, 0)"]


async def test_the_hosted_page_renders_only_when_framed_by_an_allowed_site(
    context: Any, site: Site, agent: Agent
) -> None:
    chat_url = f"{agent.gateway}/chat/{agent.agent_id}"
    async with httpx.AsyncClient() as http:
        served = await http.get(chat_url)
        assert served.status_code == 200
        assert served.headers["content-security-policy"].startswith(
            "frame-ancestors https://allowed.test:* http://allowed.test:*;"
        )
        assert (await http.get(f"{agent.gateway}/chat/agt_missing")).status_code == 404

    frame = f'<iframe src="{chat_url}" title="chat" width="400" height="600"></iframe>'
    blocked = await context.new_page()
    sessions: list[str] = []
    blocked.on("request", lambda r: sessions.append(r.url) if "/v1/widget/sessions" in r.url else None)
    async with (
        blocked.expect_console_message(lambda m: "frame-ancestors" in m.text) as refusal,
        blocked.expect_response(lambda r: r.url == chat_url) as framed,
    ):
        await blocked.goto(site.url("blocked.test", host_page(site, "/frame", frame)))
    assert (await framed.value).status == 200  # served: the browser, not the gateway, refuses to show it
    assert "violates the following Content Security Policy directive" in (await refusal.value).text
    assert await blocked.frames[1].evaluate("document.querySelector('revos-chat') === null")
    assert sessions == []

    allowed = await context.new_page()
    await allowed.goto(site.url("allowed.test", host_page(site, "/frame", frame)))
    chat = allowed.frame_locator("iframe")
    await expect(chat.get_by_role("dialog")).to_be_visible()  # rendered inside the allowed site
    await expect(chat.locator(".launcher")).to_have_count(0)  # full page: no launcher


async def test_a_visitor_chats_in_the_hosted_page_framed_by_an_allowed_site(
    context: Any, site: Site, agent: Agent
) -> None:
    frame = (
        f'<iframe src="{agent.gateway}/chat/{agent.agent_id}" title="chat" width="400" height="600"></iframe>'
    )
    page = await context.new_page()
    async with page.expect_response(is_session) as answer:
        await page.goto(site.url("allowed.test", host_page(site, "/frame-chat", frame)))
    assert (await answer.value).status == 201
    chat = page.frame_locator("iframe")
    await expect(chat.get_by_role("dialog", name="Chat with Acme help")).to_be_visible()
    await expect(chat.locator(".b.assistant").first).to_have_text(BRANDING["greeting"])
    await chat.get_by_role("textbox", name="Message").fill("from the frame")
    await chat.get_by_role("textbox", name="Message").press("Enter")
    await expect(chat.locator('.b.assistant[data-seq="2"]')).to_have_text(REPLY.format("from the frame"))


async def test_on_a_phone_the_open_panel_fills_the_screen(browser: Any, site: Site, agent: Agent) -> None:
    phone = await browser.new_context(viewport={"width": 375, "height": 700})
    try:
        page = await phone.new_page()
        await page.goto(site.url("allowed.test", host_page(site, "/phone", agent.script_tag())))
        await open_widget(page, 201)
        panel = page.get_by_role("dialog")
        await expect(panel).to_be_visible()
        assert await panel.bounding_box() == {"x": 0, "y": 0, "width": 375, "height": 700}
    finally:
        await phone.close()


async def test_the_script_is_cacheable_and_revalidated(agent: Agent) -> None:
    async with httpx.AsyncClient(base_url=agent.gateway) as http:
        script = await http.get("/widget.js")
        assert script.status_code == 200
        assert script.headers["content-type"] == "application/javascript; charset=utf-8"
        assert script.headers["cache-control"].startswith("public, max-age=300")
        assert script.headers["content-encoding"] == "gzip"  # httpx asks for it and unpacks it
        assert script.text.startswith("/* Revos chat widget")
        etag = script.headers["etag"]
        again = await http.get("/widget.js", headers={"If-None-Match": etag})
        assert (again.status_code, again.content, again.headers["etag"]) == (304, b"", etag)
