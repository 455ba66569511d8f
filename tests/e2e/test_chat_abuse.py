"""The chat socket against visitors who mean harm: floods of frames, frames too large, a client that never
reads, a token that outlives its welcome, and the gateway's log that must not hold tokens.

The floods go through a raw TCP client (the websockets library always reads, to answer pings): it speaks
just enough of RFC 6455 to open a socket, send frames and, at the end, read what the server sent.
"""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import struct
import sys
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from e2e_stack import Stack, eventually, stack_on_new_database
from loopback_tool import loopback_tool
from test_chat_socket import GATEWAY_ENV, ORIGIN, Chat, make_agent, session, token_for
from websockets.exceptions import ConnectionClosed

from infra.ports import free_port
from infra.processes import ChildSpec, spawn
from pipeline.chat import widget_tokens

MiB = 1024 * 1024


@pytest.fixture(scope="module")
async def abuse_stack(service_root: Path, postgres: Any) -> AsyncIterator[Stack]:
    async with stack_on_new_database(service_root, postgres.dsn, gateway_env=GATEWAY_ENV) as stack:
        yield stack


def rss(pid: int) -> int:
    """A process's resident memory in bytes, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for {pid}")


class RawSocket:
    """A websocket client that reads nothing until asked to: its receive buffer is as small as Linux allows."""

    def __init__(self, port: int, token: str, origin: str = ORIGIN) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)
        self.sock.settimeout(10)
        self.sock.connect(("127.0.0.1", port))
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            (
                f"GET /v1/chat?token={token} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                f"Origin: {origin}\r\n\r\n"
            ).encode()
        )
        self.received = b""
        while b"\r\n\r\n" not in self.received:
            chunk = self.sock.recv(4096)
            assert chunk, "the server closed the connection during the handshake"
            self.received += chunk
        head, self.received = self.received.split(b"\r\n\r\n", 1)
        assert head.startswith(b"HTTP/1.1 101"), head

    def send(self, payload: bytes) -> None:
        self.sock.sendall(_frame(payload))

    def flood(self, payload: bytes, count: int, seconds: float = 20.0) -> int:
        """Send `payload` `count` times, or until the server stops taking them; how many were sent."""
        frame = _frame(payload)
        self.sock.settimeout(2)
        deadline = time.monotonic() + seconds
        for sent in range(count):
            if time.monotonic() > deadline:
                return sent
            try:
                self.sock.sendall(frame)
            except (TimeoutError, ConnectionError):
                return sent
        return count

    def close_code(self, timeout: float = 30.0) -> int | None:
        """Read everything the server sent; the code of its close frame (None: it never sent one)."""
        self.sock.settimeout(timeout)
        data = self.received
        try:
            while True:
                chunk = self.sock.recv(1 << 20)
                if not chunk:
                    break
                data += chunk
                code = _close_code(data)
                if code is not None:
                    return code
        except (TimeoutError, ConnectionError):
            pass
        finally:
            self.sock.close()
        return _close_code(data)


def _frame(payload: bytes) -> bytes:
    mask = b"\x00\x00\x00\x00"  # a mask of zeros leaves the payload as it is
    n = len(payload)
    if n < 126:
        return struct.pack("!BB", 0x81, 0x80 | n) + mask + payload
    if n < 65536:
        return struct.pack("!BBH", 0x81, 0x80 | 126, n) + mask + payload
    return struct.pack("!BBQ", 0x81, 0x80 | 127, n) + mask + payload


def _close_code(data: bytes) -> int | None:
    """The code of the first close frame in the server's (unmasked) frames."""
    at = 0
    while at + 2 <= len(data):
        opcode, length = data[at] & 0x0F, data[at + 1] & 0x7F
        at += 2
        if length == 126:
            if at + 2 > len(data):
                return None
            (length,) = struct.unpack("!H", data[at : at + 2])
            at += 2
        elif length == 127:
            if at + 8 > len(data):
                return None
            (length,) = struct.unpack("!Q", data[at : at + 8])
            at += 8
        if at + length > len(data):
            return None
        if opcode == 8:
            code: int = struct.unpack("!H", data[at : at + 2])[0]
            return code
        at += length
    return None


async def settled_rss(pid: int) -> int:
    """The smallest of a few readings: what the process holds once the work in flight is done."""
    readings = []
    for _ in range(5):
        await asyncio.sleep(0.2)
        readings.append(rss(pid))
    return min(readings)


async def test_floods_leave_the_gateways_memory_bounded_and_close_the_socket(abuse_stack: Stack) -> None:
    agent = await make_agent(abuse_stack, "flood", credits="1000")
    port = free_port()
    env = {**GATEWAY_ENV, "REVOS_GATEWAY_PORT": str(port), "REVOS_CHAT_IDLE_SECONDS": "60"}
    gateway = abuse_stack.spawn_gateway("flooded-gateway", env)
    try:
        await abuse_stack.wait_ready(url=f"http://127.0.0.1:{port}")
        token = await token_for(abuse_stack, agent.agent_id)
        warm = await Chat.open(abuse_stack, token, port=port)  # every code path loaded before measuring
        await warm.hello()
        await warm.ws.close()
        before = await settled_rss(gateway.pid)

        # Invalid frames of 16,000 bytes each, answered with errors by a server whose client never reads.
        junk = RawSocket(port, token)
        junk.send(b'{"type": "hello"}')
        junk.flood(orjson.dumps({"type": "ping", "x" * 16_000: 1}), 6_000)
        junk_closed = junk.close_code()
        # Pings, as fast as the client can write them.
        pings = RawSocket(port, token)
        pings.flood(b'{"type": "ping"}', 100_000)
        pings_closed = pings.close_code()
        # Frames far over the 16 KiB a frame may hold.
        huge = RawSocket(port, token)
        huge.flood(b'{"type": "ping", "pad": "' + b"x" * MiB + b'"}', 8)
        huge_closed = huge.close_code()
        after = await settled_rss(gateway.pid)

        grown = after - before
        assert grown < 24 * MiB, f"the gateway grew by {grown / MiB:.0f} MiB"
        assert (junk_closed, pings_closed) == (4429, 4429)  # too many frames
        assert huge_closed == 1009  # message too big
    finally:
        gateway.stop(10)


async def closing(chat: Chat, timeout: float = 15.0) -> tuple[list[dict[str, Any]], int | None]:
    """Every frame until the server closes the socket (pings answered), and the close code."""
    frames = []
    with pytest.raises(ConnectionClosed):
        async with asyncio.timeout(timeout):
            while True:
                frames.append(await chat.frame(timeout))
    await chat.ws.close()
    return frames, chat.ws.close_code


async def test_an_open_socket_is_closed_once_its_token_expires(abuse_stack: Stack) -> None:
    agent = await make_agent(abuse_stack, "expiring", credits="10")
    secret = bytes.fromhex((abuse_stack.home / "widget.secret").read_text())
    issued = datetime.now(UTC) - timedelta(seconds=widget_tokens.TTL_SECONDS - 3)  # 3 s left
    token = widget_tokens.issue(secret, agent.tenant_id, agent.agent_id, ORIGIN, "vis_1", issued)
    chat = await Chat.open(abuse_stack, token)
    await chat.hello()
    # The client answers every ping; the server still closes the socket when the token runs out.
    frames, code = await closing(chat)
    assert [f["code"] for f in frames if f["type"] == "error"] == ["session_expired"]
    assert code == 4401


async def test_an_open_socket_may_not_send_once_its_origin_left_the_allowlist(abuse_stack: Stack) -> None:
    agent = await make_agent(abuse_stack, "narrowed", credits="10")
    chat = await Chat.open(abuse_stack, await token_for(abuse_stack, agent.agent_id))
    await chat.hello()
    async with abuse_stack.client(agent.api_key) as api:
        patched = await api.patch(
            f"/v1/agents/{agent.agent_id}", json={"allowed_domains": ["other.example.com"]}
        )
        assert patched.status_code == 200, patched.text

    async def narrowed() -> bool:
        return (await session(abuse_stack, agent.agent_id)).status_code == 403

    await eventually(narrowed, what="the allowlist change to reach the gateway")
    await chat.send("c1", "still there?")
    frames, code = await closing(chat)
    assert [(f["type"], f.get("code")) for f in frames] == [("error", "origin_not_allowed")]
    assert code == 4403


async def test_the_gateways_log_never_holds_a_session_token(abuse_stack: Stack) -> None:
    agent = await make_agent(abuse_stack, "logged", credits="10")
    port = free_port()
    argv = (sys.executable, "-m", "infra.cli.main", "--log-level", "info", "gateway")
    env = {**abuse_stack.env(), **GATEWAY_ENV, "REVOS_GATEWAY_PORT": str(port)}
    gateway = spawn(ChildSpec("talkative-gateway", argv, env=env), abuse_stack.home / "logs")
    try:
        await abuse_stack.wait_ready(url=f"http://127.0.0.1:{port}")
        token = await token_for(abuse_stack, agent.agent_id)
        chat = await Chat.open(abuse_stack, token, port=port)
        await chat.hello()
        await chat.ws.close()
        forged = await Chat.open(abuse_stack, token[:-3] + "AAA", port=port)
        assert (await forged.refusal())[1] == 4401

        async def logged() -> str | None:
            text = gateway.log_tail(1000)
            return text if text.count('"WebSocket /v1/chat?token=') >= 2 else None

        log = await eventually(logged, what="both sockets in the gateway's log")
        # The log is JSON lines: the access lines are in their messages.
        messages = "\n".join(
            orjson.loads(line)["message"] for line in log.splitlines() if line.startswith("{")
        )
        assert messages.count('"WebSocket /v1/chat?token=[redacted]" [accepted]') == 2, log
        signature = token.split(".")[1]
        assert signature not in log and token.split(".")[0] not in log
    finally:
        gateway.stop(10)


@pytest.fixture
def big_tool() -> Iterator[str]:
    """A tenant's tool on loopback answering 60,000 bytes: a turn calling it sends about 180 KB of frames."""
    with loopback_tool(lambda headers, body: (200, b"x" * 60_000), path="/big") as url:
        yield url


async def test_a_client_that_never_reads_its_conversation_is_closed(
    abuse_stack: Stack, big_tool: str
) -> None:
    tool = {"name": "big", "description": "Answers at length", "url": big_tool, "secret": "s" * 20}
    agent = await make_agent(abuse_stack, "unread", credits="100000", tools=[tool])
    port = free_port()
    env = {**GATEWAY_ENV, "REVOS_GATEWAY_PORT": str(port), "REVOS_CHAT_IDLE_SECONDS": "60",
           "REVOS_TOOLS_ALLOW_PRIVATE": "true", "REVOS_CHAT_SESSION_BURST": "100",
           "REVOS_CHAT_SESSION_PER_MINUTE": "6000"}  # fmt: skip
    gateway = abuse_stack.spawn_gateway("unread-gateway", env)
    try:
        await abuse_stack.wait_ready(url=f"http://127.0.0.1:{port}")

        async def visitor_token() -> str:
            answer = await session(abuse_stack, agent.agent_id, visitor_id="vis_two_tabs")
            assert answer.status_code == 201, answer.text
            return str(answer.json()["token"])

        reading = await Chat.open(abuse_stack, await visitor_token(), port=port)
        conversation = (await reading.hello())["conversation_id"]
        # A second tab of the same visitor follows the conversation and reads nothing.
        unread = RawSocket(port, await visitor_token())
        unread.send(orjson.dumps({"type": "hello", "conversation_id": conversation}))
        before = await settled_rss(gateway.pid)
        for i in range(60):  # until the server gives up on the unread tab (kernel buffers take a few MB)
            await reading.send(f"c{i}", "!tool big {}")
            ack = await reading.frame()
            assert ack["type"] == "message", ack
            await reading.reply(ack["seq"])
            if "(4413)" in gateway.log_tail(20):
                break
        after = await settled_rss(gateway.pid)
        assert unread.close_code() == 4413
        await reading.ws.close()
        assert after - before < 16 * MiB, f"the gateway grew by {(after - before) / MiB:.0f} MiB"
    finally:
        gateway.stop(10)
