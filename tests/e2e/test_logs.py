"""One request's lines, from the gateway that took it and the worker that applied its records, found by
`revos logs --request-id` in the home's merged logs."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest
from e2e_stack import Stack, start_stack
from waiting import eventually


@pytest.fixture
async def stack(service_root: Path, database: str) -> AsyncIterator[Stack]:
    running = await start_stack(service_root, database, log_level="info")
    try:
        yield running
    finally:
        await running.stop()


def _lines(stack: Stack, *args: str) -> list[dict[str, object]]:
    done = stack.cli("logs", "--json", *args)
    assert done.returncode == 0, done.stderr
    return [orjson.loads(line) for line in done.stdout.splitlines()]


async def test_revos_logs_shows_the_gateway_and_worker_lines_of_one_request(stack: Stack) -> None:
    tenant = await stack.create_tenant()
    request_id = "req_logs_" + uuid.uuid4().hex[:12]
    secret = tenant["api_key"]
    async with stack.client(secret) as api:
        answer = await api.post(
            "/v1/events",
            json={"events": [{"id": "e1", "customer": "cust_a", "type": "llm.tokens", "quantity": 3}]},
            headers={"X-Request-Id": request_id},
        )
    assert answer.status_code == 200, answer.text
    assert answer.headers["X-Request-Id"] == request_id

    async def both_processes() -> bool:
        return {line["process"] for line in _lines(stack, "--request-id", request_id)} >= {
            "gateway",
            "worker-0",
        }

    await eventually(both_processes, timeout=60.0, what="the request's lines from the gateway and the worker")
    lines = _lines(stack, "--request-id", request_id)
    gateway = [line for line in lines if line["process"] == "gateway"]
    worker = [line for line in lines if line["process"] == "worker-0"]
    assert gateway[0]["message"].startswith("POST /v1/events 200")  # type: ignore[union-attr]
    assert gateway[0]["request_id"] == request_id and gateway[0]["tenant_id"] == tenant["tenant_id"]
    assert any(request_id in (line.get("request_ids") or []) for line in worker)  # type: ignore[operator]
    assert [line["time"] for line in lines] == sorted(line["time"] for line in lines)  # type: ignore[type-var]
    assert _lines(stack, "--request-id", request_id, "--process", "gateway") == gateway
    # No line of any process holds the tenant's API key.
    every = "\n".join(p.read_text() for p in (stack.home / "logs").glob("*.log"))
    assert secret not in every
