"""The real SDK against the real gateway: what it tracks is charged exactly once; gzip bodies are handled."""

from __future__ import annotations

import asyncio
import gzip
import threading
from collections import defaultdict
from decimal import Decimal
from typing import Any

import httpx
import orjson
from e2e_stack import Stack
from revos_sdk import AsyncRevos, Config, HttpTransport, Revos
from revos_sdk._transports.http import client_headers
from test_delivery import GRANT, price, setup_tenant, wait_for_charges, workload

CUSTOMERS = [f"cust_{i}" for i in range(40)]


def track_from_threads(revos: Revos, events: list[dict[str, Any]], threads: int) -> list[str]:
    """Track `events` from `threads` threads started together; the ids the SDK gave them, in order."""
    ids: list[str] = [""] * len(events)
    start = threading.Barrier(threads)

    def run(first: int) -> None:
        start.wait()
        for i in range(first, len(events), threads):
            e = events[i]
            ids[i] = revos.track(e["customer"], e["type"], e.get("quantity", 1), e.get("properties"))

    workers = [threading.Thread(target=run, args=(t,)) for t in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return ids


def expected_spend(events: list[dict[str, Any]]) -> dict[str, Decimal]:
    spent: dict[str, Decimal] = defaultdict(Decimal)
    for e in events:
        credits = price(e)
        assert credits is not None
        spent[e["customer"]] += credits
    return spent


async def assert_charged_exactly(stack: Stack, tenant_id: str, events: list[dict[str, Any]]) -> None:
    """The tenant's charges are exactly `events` (by id), and each balance is its grant minus their price."""
    assert stack.pool is not None
    await wait_for_charges(stack.pool, tenant_id, len(events))
    charged = {
        r["event_id"]
        for r in await stack.pool.fetch("SELECT event_id FROM charges WHERE tenant_id = $1", tenant_id)
    }
    assert charged == {e["id"] for e in events}

    spent = expected_spend(events)
    rows = await stack.pool.fetch(
        "SELECT customer, sum(credits) AS credits FROM charges WHERE tenant_id = $1 GROUP BY customer",
        tenant_id,
    )
    assert {r["customer"]: r["credits"] for r in rows} == {c: v for c, v in spent.items() if v}
    rows = await stack.pool.fetch(
        "SELECT g.customer, sum(g.remaining) - max(c.debt) AS balance FROM grants g "
        "JOIN customers c USING (tenant_id, customer) WHERE g.tenant_id = $1 GROUP BY g.customer",
        tenant_id,
    )
    balances = {r["customer"]: r["balance"] for r in rows}
    assert balances == {c: GRANT - spent[c] for c in CUSTOMERS}


async def test_fifty_thousand_events_from_eight_threads_are_charged_exactly_once(stack: Stack) -> None:
    tenant = await setup_tenant(stack, CUSTOMERS)
    events = workload(50_000, CUSTOMERS, seed=11)
    # Room for everything: this test is about delivery, not about the documented drop-on-overflow policy.
    revos = Revos(api_key=tenant["api_key"], base_url=stack.url, max_queue_size=len(events))
    try:
        ids = await asyncio.to_thread(track_from_threads, revos, events, 8)
        assert await asyncio.to_thread(revos.flush, 120), revos.stats()
        stats = revos.stats()
    finally:
        await asyncio.to_thread(revos.close)
    assert len(set(ids)) == len(events), "the SDK gave two events the same id"
    for e, event_id in zip(events, ids, strict=True):
        e["id"] = event_id
    assert stats["sent"] == len(events)
    assert stats["rejected"] == stats["failed"] == stats["dropped"] == stats["queued"] == 0
    await assert_charged_exactly(stack, tenant["tenant_id"], events)

    # The SDK's own read helper agrees with the projection.
    with Revos(api_key=tenant["api_key"], base_url=stack.url) as reader:
        balance = await asyncio.to_thread(reader.get_balance, "cust_0")
    assert balance.balance == GRANT - expected_spend(events)["cust_0"]


async def test_async_client_events_are_charged_exactly_once(stack: Stack) -> None:
    tenant = await setup_tenant(stack, CUSTOMERS)
    events = workload(2_000, CUSTOMERS, seed=12)
    async with AsyncRevos(api_key=tenant["api_key"], base_url=stack.url, max_batch_events=50) as revos:
        for e in events:
            e["id"] = revos.track(e["customer"], e["type"], e.get("quantity", 1), e.get("properties"))
        assert await revos.flush(60), revos.stats()
        stats = revos.stats()
    assert len({e["id"] for e in events}) == len(events)
    assert stats["sent"] == len(events) and stats["rejected"] == stats["failed"] == stats["dropped"] == 0
    await assert_charged_exactly(stack, tenant["tenant_id"], events)


async def test_sdk_batches_large_enough_are_gzipped_and_accepted(stack: Stack) -> None:
    tenant = await setup_tenant(stack, CUSTOMERS)
    events = workload(3_000, CUSTOMERS, seed=13)
    encodings: list[str | None] = []

    def recording_transport(config: Config) -> HttpTransport:
        def note(request: httpx.Request) -> None:
            encodings.append(request.headers.get("content-encoding"))

        client = httpx.Client(
            base_url=config.base_url,
            headers=client_headers(config.api_key),
            timeout=config.request_timeout,
            event_hooks={"request": [note]},
        )
        return HttpTransport(config, client=client)

    revos = Revos(
        api_key=tenant["api_key"],
        base_url=stack.url,
        max_batch_events=1000,
        max_batch_wait=2.0,
        transport_factory=recording_transport,
    )
    try:
        for e in events:
            e["id"] = revos.track(e["customer"], e["type"], e.get("quantity", 1), e.get("properties"))
        assert await asyncio.to_thread(revos.flush, 60), revos.stats()
        stats = revos.stats()
    finally:
        await asyncio.to_thread(revos.close)
    assert stats["sent"] == len(events) and stats["failed"] == stats["rejected"] == 0
    assert encodings and "gzip" in encodings, encodings  # batches of ~1000 events exceed the 16 KiB threshold
    await assert_charged_exactly(stack, tenant["tenant_id"], events)


def gzipped_events(events: list[dict[str, Any]]) -> bytes:
    return gzip.compress(orjson.dumps({"events": events}))


async def test_gzip_bodies_are_inflated_and_bad_ones_refused(stack: Stack) -> None:
    tenant = await setup_tenant(stack, ["cust_0"])
    gz = {"Content-Encoding": "gzip", "Content-Type": "application/json"}
    async with stack.client(tenant["api_key"]) as api:
        good = await api.post(
            "/v1/events",
            content=gzipped_events([{"id": "gz1", "customer": "cust_0", "type": "report.completed"}]),
            headers=gz,
        )
        assert good.status_code == 200, good.text
        assert good.json()["accepted"] == 1

        for corrupt in (b"this is not gzip at all", _flip_crc(gzipped_events([]))):
            refused = await api.post("/v1/events", content=corrupt, headers=gz)
            assert refused.status_code == 400, refused.text
            assert refused.json()["error"]["code"] == "invalid_encoding"

        # Small on the wire, more than 1 MiB once inflated.
        bomb = gzip.compress(b'{"events": [], "pad": "' + b" " * (2 << 20) + b'"}')
        assert len(bomb) < 10_000
        too_large = await api.post("/v1/events", content=bomb, headers=gz)
        assert too_large.status_code == 413, too_large.text
        assert too_large.json()["error"]["code"] == "body_too_large"

        unknown = await api.post("/v1/events", content=b"{}", headers={"Content-Encoding": "br"})
        assert unknown.status_code == 415 and unknown.json()["error"]["code"] == "unsupported_encoding"

    assert stack.pool is not None
    await wait_for_charges(stack.pool, tenant["tenant_id"], 1)
    assert await stack.pool.fetchval(
        "SELECT credits FROM charges WHERE tenant_id = $1 AND event_id = 'gz1'", tenant["tenant_id"]
    ) == Decimal(50)


async def test_truncated_gzip_bodies_are_invalid_encoding(stack: Stack) -> None:
    tenant = await setup_tenant(stack, ["cust_0"])
    gz = {"Content-Encoding": "gzip", "Content-Type": "application/json"}
    body = gzipped_events([{"id": "t1", "customer": "cust_0", "type": "report.completed"}])
    async with stack.client(tenant["api_key"]) as api:
        codes = []
        for truncated in (body[:-8], body[: len(body) // 2]):
            response = await api.post("/v1/events", content=truncated, headers=gz)
            codes.append((response.status_code, response.json().get("error", {}).get("code")))
    assert codes == [(400, "invalid_encoding"), (400, "invalid_encoding")]


def _flip_crc(body: bytes) -> bytes:
    """The same gzip stream with its CRC-32 trailer damaged."""
    damaged = bytearray(body)
    damaged[-6] ^= 0xFF
    return bytes(damaged)
