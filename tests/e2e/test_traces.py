"""Traces across the real stack: one usage event from `POST /v1/events` to its charge row write, and one
chat turn through its model and tool calls. The gateway and worker export finished spans as JSON lines
(`REVOS_TRACE_FILE`), which the test reads while they run, and over OTLP/HTTP to a receiver in the test
(the standard `OTEL_EXPORTER_OTLP_ENDPOINT`), as they would to a collector.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson
import pytest
from credits_api import charge
from e2e_stack import Stack, create_database, eventually, start_stack
from prometheus_client.parser import text_string_to_metric_families
from test_chat_socket import GATEWAY_ENV, Chat, make_agent, token_for

from infra.ports import free_port


class Collector(ThreadingHTTPServer):
    """An OTLP/HTTP receiver: keeps the path and protobuf body of every export request."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, bytes]] = []
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                collector.requests.append((self.path, body))
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


@pytest.fixture(scope="module")
def collector() -> Iterator[Collector]:
    server = Collector()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
async def traced(
    service_root: Path, postgres: Any, collector: Collector
) -> AsyncIterator[tuple[Stack, Path]]:
    spans = Path(service_root) / f"spans-{uuid.uuid4().hex[:8]}.jsonl"
    env = {
        "REVOS_TRACE_FILE": str(spans),
        "OTEL_EXPORTER_OTLP_ENDPOINT": collector.url,
        "OTEL_BSP_SCHEDULE_DELAY": "200",
    }
    dsn = await create_database(postgres.dsn)
    stack = await start_stack(service_root, dsn, workers=0, gateway=False)
    try:
        stack.start_worker(0, env=env)
        stack.start_gateway(env={**GATEWAY_ENV, **env})
        await stack.wait_ready()
        yield stack, spans
    finally:
        await stack.stop()
        conn = await asyncpg.connect(postgres.dsn)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{dsn.rsplit("/", 1)[1]}" WITH (FORCE)')
        finally:
            await conn.close()


def read_spans(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]


def chain(spans: list[dict[str, Any]], leaf: dict[str, Any]) -> list[dict[str, Any]]:
    """`leaf` and its ancestors up to the root, as far as they were exported."""
    by_id = {(s["trace_id"], s["span_id"]): s for s in spans}
    found = [leaf]
    while found[-1]["parent_id"] is not None:
        parent = by_id.get((leaf["trace_id"], found[-1]["parent_id"]))
        if parent is None:
            break
        found.append(parent)
    return found


async def test_one_usage_event_is_one_trace_from_the_request_to_its_charge_row(
    traced: tuple[Stack, Path],
) -> None:
    stack, path = traced
    tenant = await stack.create_tenant("traced-billing")
    async with stack.client(tenant["api_key"]) as api:
        table = {"rules": [{"type": "t", "credits_per_unit": "1"}]}
        assert (await api.put("/v1/burn-tables/default", json=table)).status_code == 200
        granted = await api.post("/v1/customers/alice/grants", json={"amount": "100"})
        assert granted.status_code == 201, granted.text
        await charge(api, "alice", 3, prefix="warm")  # the catalog is loaded and every partition seen
        event = {"events": [{"id": "traced-1", "customer": "alice", "type": "t", "quantity": 2}]}
        sent = await api.post("/v1/events", json=event)
        assert sent.status_code == 200, sent.text
        request_id = sent.headers["x-request-id"]

        async def charged() -> bool:
            rows = (await api.get("/v1/customers/alice/charges")).json()["charges"]
            return "traced-1" in {r["event_id"] for r in rows}

        await eventually(charged, what="the traced event's charge")

    def request_span() -> dict[str, Any] | None:
        return next(
            (
                s
                for s in read_spans(path)
                if s["attributes"].get("revos.request_id") == request_id and s["name"] == "POST /v1/events"
            ),
            None,
        )

    async def written() -> tuple[dict[str, Any], list[dict[str, Any]]] | None:
        root = request_span()
        if root is None:
            return None
        spans = read_spans(path)
        for s in spans:
            if s["trace_id"] == root["trace_id"] and s["name"] == "write charges":
                return root, chain(spans, s)
        return None

    root, ancestry = await eventually(written, what="the charge write's span in the request's trace")
    assert root["service"] == "revos-gateway" and root["kind"] == "SERVER"
    assert root["attributes"]["http.response.status_code"] == 200
    # write charges -> apply billing -> POST /v1/events: the worker's spans are children of the request's.
    assert [(s["service"], s["name"]) for s in ancestry] == [
        ("revos-worker", "write charges"),
        ("revos-worker", "apply billing"),
        ("revos-gateway", "POST /v1/events"),
    ]
    assert ancestry[1]["attributes"]["messaging.destination.name"] == "revos.billing"
    assert ancestry[0]["attributes"]["revos.charges"] >= 1
    siblings = [s["name"] for s in read_spans(path) if s["parent_id"] == ancestry[1]["span_id"]]
    assert "fold" in siblings


async def test_a_chat_turn_has_its_model_and_tool_calls_under_it(traced: tuple[Stack, Path]) -> None:
    stack, path = traced
    # A tool on a private address: refused, so the tool's span ends in an error and the turn goes on.
    tool = {"name": "lookup", "description": "Find an order", "url": f"http://127.0.0.1:{free_port()}/x",
            "secret": "s" * 20, "parameters": {"type": "object"}}  # fmt: skip
    agent = await make_agent(stack, "traced-chat", credits="1000", tools=[tool])
    chat = await Chat.open(stack, await token_for(stack, agent.agent_id))
    try:
        await chat.hello()
        await chat.send("c1", '!tool lookup {"id": 7}')
        _, messages = await chat.reply(1)
        assert [m["role"] for m in messages][-3:] == ["assistant", "tool", "assistant"]
    finally:
        await chat.ws.close()

    async def turn() -> tuple[dict[str, Any], list[dict[str, Any]]] | None:
        spans = read_spans(path)
        for s in spans:
            if s["name"] == "chat turn" and s["attributes"].get("revos.agent_id") == agent.agent_id:
                children = [c for c in spans if c["parent_id"] == s["span_id"]]
                if len([c for c in children if c["name"] == "model call"]) == 2:
                    return s, children
        return None

    root, children = await eventually(turn, what="the chat turn's span and its children")
    assert root["service"] == "revos-gateway" and root["parent_id"] is None
    assert {c["trace_id"] for c in children} == {root["trace_id"]}
    models = [c for c in children if c["name"] == "model call"]
    tools = [c for c in children if c["name"] == "tool call"]
    assert [t["attributes"]["revos.tool.name"] for t in tools] == ["lookup"]
    assert tools[0]["attributes"]["revos.tool.ok"] is False and tools[0]["status"] == "ERROR"
    for m in models:
        a = m["attributes"]
        assert a["gen_ai.request.model"] == "demo-model"
        assert a["revos.model.fallback_used"] is False
        assert a["gen_ai.usage.output_tokens"] > 0
    # The model call, then the tool call, then the model again, in time order.
    ordered = sorted(
        (c for c in children if c["name"] in ("model call", "tool call")), key=lambda c: c["start"]
    )
    assert [c["name"] for c in ordered] == ["model call", "tool call", "model call"]
    # The answer streamed text (the tool call before it did not): its time to first token is known.
    assert ordered[-1]["attributes"]["revos.model.first_token_ms"] >= 0
    # The gateway's chat metrics counted the same turn.
    async with httpx.AsyncClient(base_url=stack.url, timeout=10) as http:
        text = (await http.get("/metrics")).text
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    assert samples[("revos_chat_first_token_seconds_count", ())] >= 1
    assert samples[("revos_chat_open_sockets", ())] >= 0
    assert ("revos_chat_provider_fallbacks_total", ()) in samples


async def test_spans_go_over_otlp_to_a_collector_when_its_endpoint_is_set(
    traced: tuple[Stack, Path], collector: Collector
) -> None:
    stack, _ = traced
    tenant = await stack.create_tenant("traced-otlp")
    async with stack.client(tenant["api_key"]) as api:
        assert (await api.get("/v1/customers")).status_code == 200

    async def exported() -> set[bytes] | None:
        bodies = b"".join(body for path, body in collector.requests if path == "/v1/traces")
        found = {name for name in (b"revos-gateway", b"revos-worker", b"GET /v1/customers") if name in bodies}
        return found if len(found) == 3 else None

    assert await eventually(exported, what="the gateway's and the worker's spans at the collector")
