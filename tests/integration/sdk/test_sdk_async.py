"""AsyncRevos against the same fault-injecting server, and its exit path."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
from revos_sdk import AsyncRevos, Event, EventRejected, RevosError
from sdk_fault_server import API_KEY, FAST, FaultServer


def client(server: FaultServer, **options: Any) -> AsyncRevos:
    return AsyncRevos(api_key=API_KEY, base_url=server.url, **{**FAST, **options})


async def wait_for(predicate: Any, limit: float = 10.0) -> None:
    deadline = time.monotonic() + limit
    while not predicate():
        assert time.monotonic() < deadline, f"condition not met within {limit}s"
        await asyncio.sleep(0.01)


async def test_async_client_delivers_every_event_once(server: FaultServer) -> None:
    async with client(server, max_batch_events=30, max_backlog_events=30) as revos:
        ids = {revos.track("c1", "llm.tokens", i + 1) for i in range(200)}
        assert await revos.flush(10)
        stats = revos.stats()
    assert server.unique_ids == ids and server.duplicates() == 0
    assert max(len(a.ids) for a in server.arrivals) == 30
    assert stats["sent"] == 200


async def test_async_client_survives_faults_and_respects_retry_after(server: FaultServer) -> None:
    server.faults.extend(["429:0.5", "500", "drop", "slow:1.5", "drop-after", "503"])
    async with client(server, max_batch_events=25, max_backlog_events=25, request_timeout=0.5) as revos:
        ids = {revos.track("c1", "llm.tokens") for _ in range(300)}
        assert await revos.flush(30)
        stats = revos.stats()
    assert server.unique_ids == ids
    assert server.duplicates() <= 50
    assert server.arrivals[1].at - server.arrivals[0].at >= 0.49
    assert stats["sent"] == 300 and stats["retried"] >= 6


async def test_async_client_survives_a_gateway_outage(server: FaultServer) -> None:
    async with client(server, backoff_max=0.5) as revos:
        server.stop()
        ids = {revos.track("c1", "llm.tokens") for _ in range(150)}
        await asyncio.sleep(2.0)  # The outage itself.
        assert revos.stats()["sent"] == 0
        server.start()
        assert await revos.flush(15)
    assert server.unique_ids == ids


async def test_async_client_reports_rejections(server: FaultServer) -> None:
    reported: list[tuple[list[Event], RevosError]] = []
    async with client(server, on_error=lambda events, error: reported.append((events, error))) as revos:
        bad = revos.track("c1", "llm.tokens", properties={"reject": True})
        good = revos.track("c1", "llm.tokens")
        assert await revos.flush(5)
    assert server.unique_ids == {good}
    assert [e.id for e in reported[0][0]] == [bad] and isinstance(reported[0][1], EventRejected)


async def test_async_spool_holds_events_while_down_and_sends_them_later(
    server: FaultServer, spool_dir: Path
) -> None:
    server.stop()
    async with client(server, spool_dir=spool_dir, max_queue_size=20, max_batch_events=10) as revos:
        ids = {revos.track("c1", "llm.tokens") for _ in range(200)}
        assert revos.stats()["spooled"] >= 150
        await asyncio.sleep(0.3)
        server.start()
        await wait_for(lambda: ids <= server.unique_ids, 15)
    assert server.unique_ids == ids
    assert (
        await asyncio.to_thread(lambda: [p for p in spool_dir.iterdir() if not p.name.endswith(".lock")])
        == []
    )


def test_async_client_rejects_the_blocking_overflow_policy() -> None:
    with pytest.raises(ValueError, match="never blocks"):
        AsyncRevos(api_key=API_KEY, overflow="block")


# asyncio.run() ends without close(): the atexit hook must still deliver what is queued.
UNCLOSED = textwrap.dedent(
    """
    import asyncio, json, sys
    from revos_sdk import AsyncRevos

    async def main():
        revos = AsyncRevos(base_url=sys.argv[1], max_batch_wait=5.0)
        ids = [revos.track("c1", "llm.tokens") for _ in range(500)]
        await asyncio.sleep(0)
        return ids

    print(json.dumps(asyncio.run(main())))
    """
)


def test_an_unclosed_async_client_delivers_at_interpreter_exit(server: FaultServer) -> None:
    env = {**os.environ, "REVOS_API_KEY": API_KEY}
    proc = subprocess.run(
        [sys.executable, "-c", UNCLOSED, server.url], capture_output=True, text=True, timeout=60, env=env
    )
    assert proc.returncode == 0, proc.stderr
    assert server.unique_ids == set(json.loads(proc.stdout))
    assert server.duplicates() == 0
