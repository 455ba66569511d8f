"""The TypeScript SDK against the real stack: 20,000 events from concurrent callers are charged exactly
once with exact balances; the shared validation cases get the gateway's codes; the Next.js example is
built and one request through it is charged."""

from __future__ import annotations

import asyncio
import copy
import json
import os
import socket
import subprocess
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import orjson
from e2e_stack import Stack
from node_packages import NEXTJS_EXAMPLE, ROOT, TS_SDK, build_sdk, npm_ci, require_node, run
from test_delivery import setup_tenant, workload
from test_more_sdk import CUSTOMERS, assert_charged_exactly
from waiting import eventually

CASES = json.loads((ROOT / "tests" / "contract" / "usage_events.json").read_text())["cases"]


async def test_twenty_thousand_events_from_concurrent_callers_are_charged_exactly_once(
    stack: Stack, tmp_path: Path
) -> None:
    node = require_node()
    await asyncio.to_thread(build_sdk)
    tenant = await setup_tenant(stack, CUSTOMERS)
    events = workload(20_000, CUSTOMERS, seed=17, prefix="ts")
    (tmp_path / "events.json").write_bytes(orjson.dumps(events))
    env = {"REVOS_BASE_URL": stack.url, "REVOS_API_KEY": tenant["api_key"]}
    out = await asyncio.to_thread(
        run, [node, "scripts/send-events.mjs", str(tmp_path / "events.json"), "16"], TS_SDK, 180, env
    )
    stats = json.loads(out.strip().splitlines()[-1])
    assert stats["flushed"] and stats["sent"] == 20_000, stats
    assert stats["rejected"] + stats["failed"] + stats["dropped"] + stats["invalid"] == 0, stats
    await assert_charged_exactly(stack, tenant["tenant_id"], events)


def concrete(case: dict[str, Any], now: datetime, index: int) -> Any:
    event = copy.deepcopy(case["event"])
    if isinstance(event, dict):
        if event.get("id") == "ID":
            event["id"] = f"contract-{index}"
        if case.get("timestamp_offset_seconds") is not None:
            at = now + timedelta(seconds=case["timestamp_offset_seconds"])
            event["timestamp"] = at.isoformat().replace("+00:00", "Z")
    return event


async def test_the_running_gateway_answers_the_shared_cases_codes(stack: Stack) -> None:
    tenant = await stack.create_tenant("contract")
    now = datetime.now(UTC)
    # Near the window's edges a case would flip during the request: keep a margin of a minute.
    edge = {"timestamp 4 minutes ahead": -60, "timestamp 34 days ago": 0}
    events = [
        concrete(case, now + timedelta(seconds=edge.get(case["name"], 0)), i) for i, case in enumerate(CASES)
    ]
    async with stack.client(tenant["api_key"]) as api:
        answer = await api.post("/v1/events", json={"events": events})
    assert answer.status_code == 200, answer.text
    got = {
        case["name"]: result.get("code") for case, result in zip(CASES, answer.json()["results"], strict=True)
    }
    assert got == {case["name"]: case["code"] for case in CASES}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def built_is_current() -> bool:
    """True when .next was built after every source of the example and the SDK's build (a minute saved)."""
    build_id = NEXTJS_EXAMPLE / ".next" / "BUILD_ID"
    sources = [
        p for p in NEXTJS_EXAMPLE.rglob("*") if p.is_file() and not {"node_modules", ".next"} & set(p.parts)
    ]
    sources += list((TS_SDK / "dist").rglob("*.js"))
    return build_id.exists() and build_id.stat().st_mtime > max(p.stat().st_mtime for p in sources)


async def test_the_nextjs_example_builds_and_a_request_through_it_is_charged(
    stack: Stack, tmp_path: Path
) -> None:
    node = require_node()
    await asyncio.to_thread(build_sdk)
    await asyncio.to_thread(npm_ci, NEXTJS_EXAMPLE, 300)
    next_bin = str(NEXTJS_EXAMPLE / "node_modules" / "next" / "dist" / "bin" / "next")
    if not built_is_current():
        await asyncio.to_thread(
            run, [node, next_bin, "build"], NEXTJS_EXAMPLE, 300, {"NEXT_TELEMETRY_DISABLED": "1"}
        )

    tenant = await stack.create_tenant("nextjs")
    env = {"REVOS_BASE_URL": stack.url, "REVOS_API_KEY": tenant["api_key"], "NEXT_TELEMETRY_DISABLED": "1"}
    await asyncio.to_thread(run, [node, "scripts/setup.mjs", "cust_demo"], NEXTJS_EXAMPLE, 60, env)
    port = free_port()
    log = (tmp_path / "next.log").open("wb")
    server = await asyncio.to_thread(
        subprocess.Popen,
        [node, next_bin, "start", "-p", str(port), "-H", "127.0.0.1"],
        cwd=NEXTJS_EXAMPLE,
        env={**os.environ, **env},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as app:

            async def up() -> bool:
                try:
                    return (await app.get("/api/balance?customer=cust_demo")).status_code == 200
                except httpx.TransportError:
                    return False

            await eventually(up, timeout=60, every=0.2, what="the Next.js server")
            before = (await app.get("/api/balance?customer=cust_demo")).json()["balance"]
            answer = await app.post("/api/ask", json={"customer": "cust_demo", "prompt": "What is Revos?"})
            assert answer.status_code == 200, answer.text
            body = answer.json()
            assert body["answer"] and body["tokens"] > 0 and body["hold"]["holdId"].startswith("hld_")

        assert stack.pool is not None
        pool = stack.pool

        async def charged() -> bool:
            n = await pool.fetchval(
                "SELECT count(*) FROM charges WHERE tenant_id = $1 AND event_id = ANY($2::text[])",
                tenant["tenant_id"],
                [body["tokensEventId"], body["outcomeEventId"]],
            )
            return bool(n == 2)

        await eventually(charged, timeout=30, every=0.2, what="the tokens and outcome events to be charged")
        async with stack.client(tenant["api_key"]) as api:
            after = (await api.get("/v1/customers/cust_demo/balance")).json()["balance"]
        # The example's burn table: 0.01 credit per token, 1 credit per answer; its setup grants 100.
        cost = Decimal(body["tokens"]) * Decimal("0.01") + Decimal("1")
        assert Decimal(before) - Decimal(after) == cost
        assert Decimal(before) == Decimal(100)
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()
        print((tmp_path / "next.log").read_text(errors="replace")[-3000:])
