"""Load through the gateway: saturating bulk ingest and a paced load, measured until every event is charged."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
import orjson

from infra.errors import InfraError

EVENTS_PATH = "/v1/events"
_PROPERTIES = ({"model": "gpt-4o", "direction": "output"}, {"model": "gpt-4o", "direction": "input"})

MARKED = "SELECT 1 FROM charges WHERE tenant_id = $1 AND event_id = $2"
CHARGED = "SELECT count(*) FROM charges WHERE tenant_id = $1 AND event_id LIKE $2"
# Latency in milliseconds, from the gateway accepting an event to the projection charging it.
LATENCY = """
SELECT count(*) AS events,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM applied_at - received_at)) * 1000 AS p50,
       percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM applied_at - received_at)) * 1000 AS p99,
       max(extract(epoch FROM applied_at - received_at)) * 1000 AS max,
       min(applied_at) AS first_applied,
       max(applied_at) AS last_applied,
       count(*) FILTER (WHERE applied_at <= $3) AS charged_by
FROM charges WHERE tenant_id = $1 AND event_id LIKE $2
"""


@dataclass(frozen=True, slots=True)
class Load:
    """Events to send: ids `<prefix><n>`, spread round-robin over `customers`."""

    prefix: str
    events: int
    customers: list[str]
    batch: int

    def bodies(self) -> list[bytes]:
        """Request bodies, serialized up front so the load generator spends little CPU while measured."""
        bodies = []
        for start in range(0, self.events, self.batch):
            chunk = [
                {
                    "id": f"{self.prefix}{n}",
                    "customer": self.customers[n % len(self.customers)],
                    "type": "llm.tokens",
                    "quantity": 100 + n % 900,
                    "properties": _PROPERTIES[n % 2],
                }
                for n in range(start, min(start + self.batch, self.events))
            ]
            bodies.append(orjson.dumps({"events": chunk}))
        return bodies


async def post(api: httpx.AsyncClient, body: bytes) -> int:
    """POST one batch, resending on 503 or a dropped connection (event ids make that safe); accepted count."""
    deadline = time.monotonic() + 60
    while True:
        try:
            response = await api.post(EVENTS_PATH, content=body, headers={"Content-Type": "application/json"})
        except httpx.TransportError as exc:
            problem = repr(exc)
        else:
            if response.status_code == 200:
                accepted: int = orjson.loads(response.content)["accepted"]
                return accepted
            problem = f"{response.status_code} {response.text[:200]}"
        if time.monotonic() > deadline:
            raise InfraError(f"the gateway kept failing a batch: {problem}")
        await asyncio.sleep(0.2)


async def saturate(api: httpx.AsyncClient, bodies: list[bytes], concurrency: int) -> dict[str, Any]:
    """Send every body with `concurrency` requests in flight; when it started and how fast it was accepted."""
    queue = iter(bodies)
    accepted = 0

    async def sender() -> None:
        nonlocal accepted
        for body in queue:
            answered = await post(api, body)
            accepted += answered  # not `accepted += await ...`: that reads `accepted` before awaiting

    started_at = datetime.now(UTC)
    started = time.perf_counter()
    await asyncio.gather(*(sender() for _ in range(concurrency)))
    seconds = time.perf_counter() - started
    return {"accepted": accepted, "seconds": seconds, "started_at": started_at}


async def paced(api: httpx.AsyncClient, bodies: list[bytes], per_second: float) -> dict[str, Any]:
    """Start one request every 1/`per_second` s, whether or not earlier ones have answered."""
    started = time.perf_counter()
    tasks = []
    for i, body in enumerate(bodies):
        delay = started + i / per_second - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.ensure_future(post(api, body)))
    accepted = sum(await asyncio.gather(*tasks))
    return {"accepted": accepted, "seconds": time.perf_counter() - started}


async def wait_charged(
    api: httpx.AsyncClient,
    pool: asyncpg.Pool,
    tenant_id: str,
    load: Load,
    within: float,
    progress: Callable[[str], None] | None = None,
) -> bool:
    """Wait until every event of `load` is charged, or `within` seconds pass (then False).

    Call it once the load was acknowledged. It sends one marker event per customer and looks the
    markers up by primary key: each customer's events precede its marker in their partition, so all are
    charged once the markers are. Counting the load instead would scan the growing charges table many
    times a second and load the database being measured; the broker's end offsets are no help either
    (the embedded Tansu v0.6.0 answers ListOffsets(latest) with the last batch's base offset + 1).
    """
    markers = [f"mark-{load.prefix}{customer}" for customer in load.customers]
    for start in range(0, len(markers), 1000):
        chunk = [
            {"id": marker, "customer": customer, "type": "llm.tokens"}
            for marker, customer in zip(
                markers[start : start + 1000], load.customers[start : start + 1000], strict=True
            )
        ]
        await post(api, orjson.dumps({"events": chunk}))
    deadline = time.monotonic() + within
    last_report = time.monotonic()
    pending = list(reversed(markers))
    while time.monotonic() < deadline:
        # One primary-key lookup per query: a set-valued query may be planned as a scan of the tenant.
        while pending and await pool.fetchval(MARKED, tenant_id, pending[-1]) is not None:
            pending.pop()
        if not pending:
            return True
        if progress is not None and time.monotonic() - last_report > 5:
            progress(f"  {await charged(pool, tenant_id, load.prefix):,} of {load.events:,} charged")
            last_report = time.monotonic()
        await asyncio.sleep(0.05)
    return False


async def charged(pool: asyncpg.Pool, tenant_id: str, prefix: str) -> int:
    """How many events with ids starting with `prefix` are charged (one scan: call it once per phase)."""
    return int(await pool.fetchval(CHARGED, tenant_id, prefix + "%"))


PARTITIONS = """
SELECT partition, count(*) AS events FROM charges WHERE tenant_id = $1 AND event_id LIKE $2
GROUP BY partition ORDER BY partition
"""


async def per_partition(pool: asyncpg.Pool, tenant_id: str, prefix: str) -> dict[int, int]:
    """How the `prefix` events spread over the billing partitions (keys hash unevenly)."""
    return {r["partition"]: r["events"] for r in await pool.fetch(PARTITIONS, tenant_id, prefix + "%")}


async def latency(
    pool: asyncpg.Pool, tenant_id: str, prefix: str, by: datetime | None = None
) -> dict[str, Any]:
    """Latency percentiles of the `prefix` events, when they were applied, and how many were charged `by`."""
    row = await pool.fetchrow(LATENCY, tenant_id, prefix + "%", by)
    assert row is not None
    return dict(row)
