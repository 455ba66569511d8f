"""The worker's Prometheus endpoint on the real stack: its consumer lag rises under load and returns to
zero, and the records it applied, its error rate and its scheduler's tick are there to read."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from e2e_stack import Stack, eventually, send_all, start_stack
from prometheus_client.parser import text_string_to_metric_families

from infra.ports import free_port

EVENTS = 20_000


@pytest.fixture
async def measured(service_root: Path, database: str) -> AsyncIterator[tuple[Stack, int]]:
    port = free_port()
    stack = await start_stack(service_root, database, workers=0)
    try:
        stack.start_worker(0, env={"REVOS_WORKER_METRICS_PORT": str(port)})
        yield stack, port
    finally:
        await stack.stop()


async def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    async with httpx.AsyncClient(timeout=5) as http:
        text = (await http.get(f"http://127.0.0.1:{port}/metrics")).text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def billing_lag(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float]) -> float | None:
    lags = [
        v
        for (name, labels), v in samples.items()
        if name == "revos_worker_consumer_lag" and ("consumer", "billing") in labels
    ]
    return sum(lags) if lags else None


async def test_the_billing_lag_rises_under_load_and_returns_to_zero(measured: tuple[Stack, int]) -> None:
    stack, port = measured
    tenant = await stack.create_tenant("lagging")
    events = [{"id": f"e{i}", "customer": f"c{i % 50}", "type": "t", "quantity": 1} for i in range(EVENTS)]
    highest = 0.0
    seen = asyncio.Event()

    async def watch() -> None:
        nonlocal highest
        while True:
            try:
                lag = billing_lag(await scrape(port))
            except httpx.TransportError:
                lag = None
            if lag is not None:
                seen.set()
                highest = max(highest, lag)
            await asyncio.sleep(0.1)

    watcher = asyncio.create_task(watch())
    try:
        await asyncio.wait_for(seen.wait(), 60)  # the worker measures before the load starts
        async with stack.client(tenant["api_key"]) as api:
            sent = await asyncio.gather(*(send_all(api, events[i::4], batch=500) for i in range(4)))
        assert sum(s["accepted"] for s in sent) == EVENTS

        async def caught_up() -> dict[Any, float] | None:
            samples = await scrape(port)
            return samples if billing_lag(samples) == 0 else None

        samples = await eventually(caught_up, timeout=120, every=0.2, what="the billing lag back at zero")
    finally:
        watcher.cancel()
    assert highest > 0, "the lag never rose under load"
    assert samples[("revos_worker_records_total", (("stream", "billing"),))] >= EVENTS / 500
    # Unpriced usage is dead-lettered (no burn table): every record failed, and the rate says so.
    assert samples[("revos_worker_error_rate", (("window", "5m"),))] > 0
    assert samples[("revos_scheduler_last_tick_age_seconds", ())] >= 0
