"""Tenant tools called over real HTTP; the tool side verifies signatures with pipeline.chat.tool_signing."""

from __future__ import annotations

import gzip
import ipaddress
import json
import threading
import time
import tracemalloc
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import orjson
import pytest

from gateway.chat.tools import MAX_RESULT_BYTES, ToolResult, call_tool, exchange, tool_context
from infra.http_guard import guarded_client
from infra.ports import free_port
from pipeline.assistants.tool_addresses import IPAddress
from pipeline.chat.tool_signing import verify
from pipeline.records import AssistantTool

SECRET = "whsec_test_secret"
CONTEXT = {"tenant_id": "ten_1", "agent_id": "agt_1", "conversation_id": "conv_1"}
BOMB = gzip.compress(b"a" * (32 << 20), compresslevel=9)  # 32 MiB of text in ~32 KiB: one network read


@dataclass
class ToolServer:
    """A tenant's tool endpoint: /order answers only correctly signed requests; others misbehave."""

    verified: list[bool] = field(default_factory=list)
    hosts: list[str] = field(default_factory=list)  # the Host header of each request
    deliveries: list[str] = field(default_factory=list)  # the X-Revos-Delivery header of each request
    bodies: list[dict[str, Any]] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    def url(self, path: str) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"


@pytest.fixture
def tools() -> Iterator[ToolServer]:
    state = ToolServer()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            ok = verify(
                SECRET,
                self.headers["X-Revos-Timestamp"],
                body,
                self.headers["X-Revos-Signature"],
                delivery=self.headers.get("X-Revos-Delivery", ""),
                now=time.time(),
            )
            state.verified.append(ok)
            state.deliveries.append(self.headers.get("X-Revos-Delivery", ""))
            state.bodies.append(json.loads(body))
            state.hosts.append(self.headers["Host"])
            try:
                self._answer(ok, json.loads(body))
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True

        def _answer(self, ok: bool, request: dict[str, Any]) -> None:
            if self.path == "/set-cookie":
                self._send_headers(200, 2, cookie="session=tenant-a; Path=/")
                self.wfile.write(b"{}")
                return
            if self.path == "/cookie":
                self._reply(200, json.dumps({"cookie": self.headers.get("Cookie")}).encode())
                return
            if self.path == "/slow":
                time.sleep(2)
                self._reply(200, b"{}")
                return
            if self.path == "/trickle":
                self._send_headers(200, 1000)
                for _ in range(100):
                    self.wfile.write(b"xxxxxxxxxx")
                    self.wfile.flush()
                    time.sleep(0.05)
                return
            if self.path in ("/bomb", "/brotli"):
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Encoding", "gzip" if self.path == "/bomb" else "br")
                self.send_header("Content-Length", str(len(BOMB)))
                self.end_headers()
                self.wfile.write(BOMB)
                return
            if self.path == "/fail":
                self._reply(500, b'{"message": "database down"}')
            elif self.path == "/big":
                self._reply(200, "é".encode() * 40_000)
            elif not ok:
                self._reply(401, b'{"error": "bad signature"}')
            else:
                order = request["arguments"]["order_id"]
                self._reply(200, json.dumps({"order_id": order, "status": "shipped"}).encode())

        def _send_headers(self, status: int, length: int, cookie: str | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            if cookie is not None:
                self.send_header("Set-Cookie", cookie)
            self.send_header("Content-Length", str(length))
            self.end_headers()

        def _reply(self, status: int, payload: bytes) -> None:
            self._send_headers(status, len(payload))
            self.wfile.write(payload)

    state.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.server.daemon_threads = True
    thread = threading.Thread(target=state.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        state.server.shutdown()
        state.server.server_close()


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    """The tools' client, allowed to reach the tool servers these tests run on loopback."""
    async with guarded_client(allow_private=True) as opened:
        yield opened


@pytest.fixture
async def guarded() -> AsyncIterator[httpx.AsyncClient]:
    """The tools' client as the gateway runs it by default: public addresses only."""
    async with guarded_client() as opened:
        yield opened


def tool(url: str, *, secret: str = SECRET, timeout: float = 5.0) -> AssistantTool:
    return AssistantTool(
        name="lookup_order",
        description="Find an order",
        parameters='{"type": "object"}',
        url=url,
        secret=secret,
        timeout_seconds=timeout,
    )


async def test_a_signed_call_is_verified_and_its_answer_returned(
    tools: ToolServer, client: httpx.AsyncClient
) -> None:
    result = await call_tool(tool(tools.url("/order")), '{"order_id": "A-1"}', client=client, context=CONTEXT)

    assert result == ToolResult(ok=True, content='{"order_id": "A-1", "status": "shipped"}')
    assert tools.verified == [True]
    assert tools.bodies == [{"tool": "lookup_order", "arguments": {"order_id": "A-1"}, "context": CONTEXT}]


async def test_each_call_has_its_own_delivery_id_under_the_signature(
    tools: ToolServer, client: httpx.AsyncClient
) -> None:
    for _ in range(2):
        result = await call_tool(
            tool(tools.url("/order")), '{"order_id": "A-1"}', client=client, context=CONTEXT
        )
        assert result.ok, result.content

    assert tools.verified == [True, True]  # verified with the delivery id each request carried
    first, second = tools.deliveries
    assert first.startswith("dlv_") and second.startswith("dlv_") and first != second


async def test_the_visitor_id_reaches_a_tool_marked_as_unverified(
    tools: ToolServer, client: httpx.AsyncClient
) -> None:
    context = tool_context("ten_1", "agt_1", "conv_1", visitor_id="vis_anything_a_browser_says")

    await call_tool(tool(tools.url("/order")), '{"order_id": "A-1"}', client=client, context=context)

    (sent,) = [b["context"] for b in tools.bodies]
    assert sent["visitor_id"] == "vis_anything_a_browser_says"
    assert sent["visitor_id_verified"] is False


async def test_a_compressed_answer_is_capped_on_its_decoded_bytes_as_it_streams(
    tools: ToolServer, client: httpx.AsyncClient
) -> None:
    tracemalloc.start()
    try:
        result = await call_tool(tool(tools.url("/bomb")), "{}", client=client, context=CONTEXT)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert result == ToolResult(ok=True, content="a" * MAX_RESULT_BYTES)
    assert peak < 4 << 20, f"inflating the answer took {peak >> 20} MiB at once"


async def test_an_answer_in_an_encoding_not_asked_for_is_a_failed_result(
    tools: ToolServer, client: httpx.AsyncClient
) -> None:
    result = await call_tool(tool(tools.url("/brotli")), "{}", client=client, context=CONTEXT)

    assert result == ToolResult(
        ok=False, content='{"error":"the tool answered in an unsupported content encoding (br)"}'
    )


async def test_a_call_signed_with_another_secret_is_refused_by_the_tool(
    tools: ToolServer, client: httpx.AsyncClient
) -> None:
    wrong = tool(tools.url("/order"), secret="not-the-secret")

    result = await call_tool(wrong, '{"order_id": "A-1"}', client=client, context=CONTEXT)

    assert result == ToolResult(ok=False, content='{"error":"the tool answered HTTP 401"}')
    assert tools.verified == [False]


async def test_a_slow_tool_times_out(tools: ToolServer, client: httpx.AsyncClient) -> None:
    started = time.monotonic()

    result = await call_tool(tool(tools.url("/slow"), timeout=0.3), "{}", client=client, context=CONTEXT)

    assert result == ToolResult(ok=False, content='{"error":"the tool did not answer within 0.3 s"}')
    assert time.monotonic() - started < 1.5


async def test_a_tool_that_trickles_its_answer_times_out_as_a_whole(
    tools: ToolServer, client: httpx.AsyncClient
) -> None:
    started = time.monotonic()

    result = await call_tool(tool(tools.url("/trickle"), timeout=0.5), "{}", client=client, context=CONTEXT)

    assert result == ToolResult(ok=False, content='{"error":"the tool did not answer within 0.5 s"}')
    assert time.monotonic() - started < 1.5


async def test_a_failing_tool_is_a_failed_result(tools: ToolServer, client: httpx.AsyncClient) -> None:
    result = await call_tool(tool(tools.url("/fail")), "{}", client=client, context=CONTEXT)

    assert result == ToolResult(ok=False, content='{"error":"the tool answered HTTP 500"}')


async def test_an_exchange_shows_the_signed_request_and_the_answer_and_what_the_model_gets(
    tools: ToolServer, client: httpx.AsyncClient
) -> None:
    done = await exchange(tool(tools.url("/order")), '{"order_id": "A-1"}', client=client, context=CONTEXT)

    assert done.error is None and done.request is not None and done.answer is not None
    assert tools.bodies == [orjson.loads(done.request.body)]  # the body shown is the body sent
    sent = dict(done.request.headers)
    assert tools.verified == [True] and sent["x-revos-signature"].startswith("sha256=")
    assert SECRET not in repr(done.request)
    assert (done.answer.status, done.answer.truncated) == (200, False)
    assert done.result == ToolResult(ok=True, content=done.answer.body or "")


async def test_an_exchange_reads_a_failed_answer_only_when_asked(
    tools: ToolServer, client: httpx.AsyncClient
) -> None:
    as_a_turn = await exchange(tool(tools.url("/fail")), "{}", client=client, context=CONTEXT)
    as_a_test = await exchange(
        tool(tools.url("/fail")), "{}", client=client, context=CONTEXT, read_failed=True
    )

    assert as_a_turn.answer is not None and as_a_turn.answer.body is None
    assert as_a_test.answer is not None and as_a_test.answer.body == '{"message": "database down"}'
    for done in (as_a_turn, as_a_test):
        assert done.answer is not None and done.answer.status == 500
        assert done.result == ToolResult(ok=False, content='{"error":"the tool answered HTTP 500"}')


async def test_an_exchange_says_when_the_answer_was_cut(tools: ToolServer, client: httpx.AsyncClient) -> None:
    done = await exchange(tool(tools.url("/big")), "{}", client=client, context=CONTEXT)

    assert done.answer is not None and done.answer.truncated is True


async def test_an_unreachable_tool_is_a_failed_result(client: httpx.AsyncClient) -> None:
    result = await call_tool(tool(f"http://127.0.0.1:{free_port()}/x"), "{}", client=client, context=CONTEXT)

    assert result == ToolResult(ok=False, content='{"error":"the tool could not be reached (ConnectError)"}')


@pytest.mark.parametrize(
    ("arguments", "error"),
    [
        ('{"order_id": ', "the arguments are not valid JSON"),
        ('["A-1"]', "the arguments must be a JSON object"),
    ],
)
async def test_bad_arguments_never_reach_the_tool(
    tools: ToolServer, client: httpx.AsyncClient, arguments: str, error: str
) -> None:
    result = await call_tool(tool(tools.url("/order")), arguments, client=client, context=CONTEXT)

    assert result.ok is False
    assert json.loads(result.content)["error"].startswith(error)
    assert tools.bodies == []


async def test_a_large_answer_is_cut_at_64_kib_without_splitting_a_character(
    tools: ToolServer, client: httpx.AsyncClient
) -> None:
    result = await call_tool(tool(tools.url("/big")), "{}", client=client, context=CONTEXT)

    assert result.ok is True
    assert result.content == "é" * (MAX_RESULT_BYTES // 2)


async def test_a_tool_on_a_private_address_is_refused_unless_allowed(tools, guarded) -> None:  # type: ignore[no-untyped-def]
    for url in (tools.url("/order"), "http://10.0.0.1/x", "http://169.254.169.254/latest/meta-data"):
        result = await call_tool(tool(url), '{"order_id": "A-1"}', client=guarded, context=CONTEXT)
        assert not result.ok and "is not public" in orjson.loads(result.content)["error"]
    assert tools.bodies == []  # nothing reached the local tool
    unresolvable = await call_tool(
        tool("http://no-such-host.invalid/x"), "{}", client=guarded, context=CONTEXT
    )
    assert orjson.loads(unresolvable.content) == {"error": "the tool's host does not resolve"}


class FakeResolver:
    """A DNS that answers from a table (one answer per name, or a list of answers in turn)."""

    def __init__(self, answers: dict[str, list[list[str]]]) -> None:
        self._answers = answers
        self.asked: list[str] = []

    async def __call__(self, host: str, port: int) -> list[IPAddress]:
        self.asked.append(host)
        turns = self._answers.get(host)
        if not turns:
            raise OSError(f"{host} does not resolve")
        answer = turns[0] if len(turns) == 1 else turns.pop(0)
        return [ipaddress.ip_address(a) for a in answer]


async def test_a_unicode_host_is_checked_under_the_name_it_is_connected_to(tools: ToolServer) -> None:
    # IDNA 2003 (the system resolver's) turns straße into strasse; IDNA 2008 (httpx's) into xn--strae-oqa.
    # Were the check done on one and the connection on the other, the public name would open the way.
    resolver = FakeResolver(
        {"strasse.example": [["93.184.215.14"]], "xn--strae-oqa.example": [["127.0.0.1"]]}
    )
    port = tools.url("").rsplit(":", 1)[1]
    url = f"http://straße.example:{port}/order"

    async with guarded_client(resolve=resolver) as guarded:
        refused = await call_tool(tool(url), '{"order_id": "A-1"}', client=guarded, context=CONTEXT)
    assert orjson.loads(refused.content) == {"error": "the tool's address 127.0.0.1 is not public"}
    assert tools.bodies == []
    assert resolver.asked == ["xn--strae-oqa.example"]

    async with guarded_client(resolve=resolver, allow_private=True) as open_client:
        allowed = await call_tool(tool(url), '{"order_id": "A-1"}', client=open_client, context=CONTEXT)
    assert allowed.ok, allowed.content
    assert tools.hosts == [f"xn--strae-oqa.example:{port}"]  # the Host header keeps the name


async def test_a_name_is_resolved_once_and_connected_to_at_the_address_checked(tools: ToolServer) -> None:
    # DNS rebinding: the first answer is public, later ones point inside. The check and the connection
    # both use the first answer, so the loopback tool is never reached.
    port = tools.url("").rsplit(":", 1)[1]
    resolver = FakeResolver({"rebind.example": [["93.184.215.14"], ["127.0.0.1"], ["127.0.0.1"]]})

    async with guarded_client(resolve=resolver) as guarded:
        result = await call_tool(
            tool(f"http://rebind.example:{port}/order", timeout=1.0), "{}", client=guarded, context=CONTEXT
        )

    assert not result.ok
    assert resolver.asked == ["rebind.example"]
    assert tools.bodies == []


@pytest.mark.parametrize(
    "address",
    ["64:ff9b::7f00:1", "64:ff9b::a9fe:a9fe", "::127.0.0.1", "::10.0.0.1", "::ffff:127.0.0.1", "ff0e::1"],
)
async def test_ipv6_addresses_that_lead_to_private_ipv4_are_not_public(address: str) -> None:
    resolver = FakeResolver({"inside.example": [[address]]})

    async with guarded_client(resolve=resolver) as guarded:
        result = await call_tool(tool("http://inside.example/x"), "{}", client=guarded, context=CONTEXT)

    assert not result.ok and "is not public" in orjson.loads(result.content)["error"]


async def test_a_cookie_one_tool_sets_never_reaches_another_call(
    tools: ToolServer, client: httpx.AsyncClient
) -> None:
    planted = await call_tool(tool(tools.url("/set-cookie")), "{}", client=client, context=CONTEXT)
    assert planted.ok

    echoed = await call_tool(tool(tools.url("/cookie")), "{}", client=client, context=CONTEXT)

    assert orjson.loads(echoed.content) == {"cookie": None}
    assert len(client.cookies.jar) == 0
