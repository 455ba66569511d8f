"""The credits check under load: `POST /v1/check` beside `GET /healthz`, the lag from an acknowledged event
to a check that reflects it, and how far concurrent callers overspend a small balance.

The check reads projections and reserves nothing, so callers racing it can overspend by what they spend
while the projection lags; overspend runs without and beside two background loads show how that grows.

The measured loops use aiohttp, not httpx: httpx spends several times the CPU per request, so with it the
bench process, sharing the machine with the gateway, would bound the figures instead of the gateway.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import aiohttp
import httpx
import orjson

from infra.bench import check_figures as figures
from infra.bench import load as bench_load
from infra.bench.options import BenchOptions
from infra.bench.stack import BenchStack, CpuMeter
from infra.errors import InfraError
from pipeline.money import CONTEXT, parse_decimal

CHECK_PATH = "/v1/check"
JSON = {"Content-Type": "application/json"}
CALL = "bench.call"  # priced at one credit per unit by BURN_TABLE: each event moves a balance by exactly 1
BURN_TABLE = "bench-checks"
FEATURE = "bench-tokens"
METERED = {"kind": "metered", "event_type": "llm.tokens", "allowance": "1000000000000", "period": "month"}
CHECKED_CUSTOMERS = 8  # the throughput runs spread their checks over this many customers
PROBE = "chk-probe"
PROBE_GRANT = 1_000_000
PROBE_EVERY = 0.1  # seconds between probe events
POLL_EVERY = 0.005  # seconds between checks of the probe
OVERSPEND_CLIENTS = 50
OVERSPEND_GRANT = 20
OVERSPEND_DEADLINE = 30.0
HEAVY = 3  # the heaviest background load, in multiples of --paced-rate: near or past what one worker drains
HEAD_START = 1.0  # seconds of background load before measuring under it, so the pipeline is loaded
SETTLE_WITHIN = 120.0

Progress = Callable[[str], None]
Request = Callable[[int], Awaitable[tuple[int, bytes]]]


async def run(
    stack: BenchStack, tenant: dict[str, Any], customers: list[str], options: BenchOptions, progress: Progress
) -> dict[str, Any]:
    """Every figure of the section; `customers` hold large grants (the bench's own customers)."""
    checked = customers[:CHECKED_CUSTOMERS]
    connections = max(options.check_clients, OVERSPEND_CLIENTS)
    async with stack.client(tenant["api_key"]) as api, session(stack, tenant, connections) as fast:
        progress("credits checks: pricing bench.call at 1 credit, granting, setting entitlements")
        await _prepare(api, checked, options)
        throughput = await _throughput(stack, fast, checked, options, progress)
        lag = await _lag(stack, tenant, api, fast, customers, options, progress)
        overspend = [
            await _overspend(stack, tenant, api, fast, customers, i, rate, options, progress)
            for i, rate in enumerate(_overspend_rates(options))
        ]
        # The same clients, but each check reserves its credit with a hold the pipeline decides.
        overspend += [
            await _overspend(
                stack, tenant, api, fast, customers, HELD + i, rate, options, progress, hold=True
            )
            for i, rate in enumerate(_held_rates(options))
        ]
    return {
        "clients": options.check_clients,
        "seconds": options.check_seconds,
        "throughput": throughput,
        "lag": lag,
        "overspend": overspend,
    }


HELD = 10  # overspend customers from here on check with holds


def _held_rates(options: BenchOptions) -> tuple[int, ...]:
    """Background events/s beside each overspend run whose checks place holds."""
    return (0, options.paced_rate)


def _overspend_rates(options: BenchOptions) -> tuple[int, ...]:
    """Background events/s beside each overspend run: none, the paced rate, and HEAVY times it."""
    return (0, options.paced_rate, HEAVY * options.paced_rate)


async def _prepare(api: httpx.AsyncClient, checked: list[str], options: BenchOptions) -> None:
    table = {"rules": [{"type": CALL, "credits_per_unit": "1"}]}
    _applied(await api.put(f"/v1/burn-tables/{BURN_TABLE}", json=table), "publishing the check burn table")

    async def account(customer: str, grant: int) -> None:
        settings = {"burn_table": BURN_TABLE, "credit_limit": "0"}
        _applied(await api.put(f"/v1/customers/{customer}", json=settings), f"setting up {customer}")
        body = {"amount": str(grant), "id": "bench-checks"}
        _applied(await api.post(f"/v1/customers/{customer}/grants", json=body), f"granting to {customer}")

    async def entitle(customer: str) -> None:
        response = await api.put(f"/v1/customers/{customer}/entitlements/{FEATURE}", json=METERED)
        _applied(response, f"entitling {customer}")

    await asyncio.gather(
        account(PROBE, PROBE_GRANT),
        *(account(f"chk-over-{i}", OVERSPEND_GRANT) for i in range(len(_overspend_rates(options)))),
        *(account(f"chk-over-{HELD + i}", OVERSPEND_GRANT) for i in range(len(_held_rates(options)))),
        *(entitle(c) for c in checked),
    )


def session(stack: BenchStack, tenant: dict[str, Any], connections: int) -> aiohttp.ClientSession:
    """A keep-alive session of up to `connections` connections to the stack's gateway, as the tenant."""
    return aiohttp.ClientSession(
        stack.url,
        headers={"Authorization": f"Bearer {tenant['api_key']}", **JSON},
        connector=aiohttp.TCPConnector(limit=connections),
        timeout=aiohttp.ClientTimeout(total=60),
    )


async def _get(fast: aiohttp.ClientSession, path: str) -> tuple[int, bytes]:
    async with fast.get(path) as response:
        return response.status, await response.read()


async def _post(fast: aiohttp.ClientSession, path: str, body: bytes) -> tuple[int, bytes]:
    async with fast.post(path, data=body) as response:
        return response.status, await response.read()


def _applied(response: httpx.Response, what: str) -> None:
    if response.status_code not in (200, 201):
        raise InfraError(f"{what} failed: {response.status_code} {response.text[:200]}")


async def _throughput(
    stack: BenchStack,
    fast: aiohttp.ClientSession,
    checked: list[str],
    options: BenchOptions,
    progress: Progress,
) -> dict[str, Any]:
    plain = [orjson.dumps({"customer": c, "credits": "1"}) for c in checked]
    metered = [orjson.dumps({"customer": c, "feature": FEATURE, "credits": "1"}) for c in checked]
    meter = CpuMeter({n: p for n, p in stack.processes().items() if n in ("gateway", "postgres", "bench")})
    runs: dict[str, tuple[Request, Callable[[int, bytes], bool]]] = {
        "healthz": (lambda n: _get(fast, "/healthz"), _ok),
        "check": (lambda n: _post(fast, CHECK_PATH, plain[n % len(plain)]), _allowed),
        "check_feature": (lambda n: _post(fast, CHECK_PATH, metered[n % len(metered)]), _allowed),
    }
    results: dict[str, Any] = {}
    for name, (request, ok) in runs.items():
        progress(f"credits checks: {name}, {options.check_clients} clients for {options.check_seconds:g}s")
        meter.start()
        results[name] = await _hammer(request, ok, options.check_clients, options.check_seconds)
        results[name]["cpu_percent_of_core"] = meter.lap()
    for name in ("check", "check_feature"):
        results[name]["of_healthz"] = round(
            results[name]["requests_per_s"] / max(results["healthz"]["requests_per_s"], 1), 3
        )
    return results


def _ok(status: int, body: bytes) -> bool:
    return status == 200


def _allowed(status: int, body: bytes) -> bool:
    return status == 200 and orjson.loads(body)["allowed"] is True


async def _hammer(
    request: Request, ok: Callable[[int, bytes], bool], clients: int, seconds: float
) -> dict[str, Any]:
    """`clients` callers, each sending its next request as soon as the last one answered, for `seconds`."""
    took: list[float] = []
    failed = 0

    async def caller(first: int) -> None:
        nonlocal failed
        n = first
        while time.perf_counter() < until:
            sent = time.perf_counter()
            status, body = await request(n)
            took.append(time.perf_counter() - sent)
            if not ok(status, body):
                failed += 1
            n += clients

    began = time.perf_counter()
    until = began + seconds
    await asyncio.gather(*(caller(i) for i in range(clients)))
    wall = time.perf_counter() - began
    p50, p99 = figures.percentiles(took)
    return {
        "requests": len(took),
        "requests_per_s": round(len(took) / wall),
        "p50_ms": round(p50 * 1000, 2),
        "p99_ms": round(p99 * 1000, 2),
        "failed": failed,
    }


def _background(prefix: str, customers: list[str], rate: int, options: BenchOptions) -> bench_load.Load:
    """`rate` events/s that run beside a measurement: the head start, then `check_seconds`."""
    events = int(rate * (HEAD_START + options.check_seconds))
    return bench_load.Load(prefix, events, customers, options.paced_batch)


async def _paced(api: httpx.AsyncClient, load: bench_load.Load, rate: int, options: BenchOptions) -> None:
    await bench_load.paced(api, load.bodies(), rate / options.paced_batch)


async def _lag(
    stack: BenchStack,
    tenant: dict[str, Any],
    api: httpx.AsyncClient,
    fast: aiohttp.ClientSession,
    customers: list[str],
    options: BenchOptions,
    progress: Progress,
) -> dict[str, Any]:
    probes = max(1, round(options.check_seconds / PROBE_EVERY))
    background = _background("chk-lag-", customers, options.paced_rate, options)
    progress(
        f"credits checks: event -> check lag, a probe event every {PROBE_EVERY * 1000:.0f} ms "
        f"under {options.paced_rate:,} events/s"
    )
    check = orjson.dumps({"customer": PROBE, "credits": "1"})
    start = _answer(await _check(fast, check), time.perf_counter()).balance
    answers: list[figures.Answer] = []
    acks: list[tuple[float, datetime]] = []
    stop = asyncio.Event()

    async def poll() -> None:
        async with session(stack, tenant, 1) as own:
            while not stop.is_set():
                sent = time.perf_counter()
                answer = await _check(own, check)
                answers.append(_answer(answer, time.perf_counter()))
                await asyncio.sleep(max(0.0, sent + POLL_EVERY - time.perf_counter()))

    async def probe() -> None:
        began = time.perf_counter()
        for k in range(probes):
            await asyncio.sleep(max(0.0, began + k * PROBE_EVERY - time.perf_counter()))
            event = {"events": [{"id": f"{PROBE}-{k}", "customer": PROBE, "type": CALL}]}
            await _spend(fast, orjson.dumps(event))
            acks.append((time.perf_counter(), datetime.now(UTC)))

    loading = asyncio.ensure_future(_paced(api, background, options.paced_rate, options))
    polling = asyncio.ensure_future(poll())
    try:
        await asyncio.sleep(HEAD_START)  # the background load builds up its lag first
        await probe()
        deadline = time.monotonic() + 30.0
        last = CONTEXT.subtract(start, Decimal(probes))
        while not answers or answers[-1].balance > last:
            if polling.done() or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.02)
    finally:
        stop.set()
        await asyncio.gather(polling, loading)
    if answers[-1].balance > last:
        raise InfraError(
            f"the check did not reflect the last probe within 30s (balance {answers[-1].balance})"
        )
    await stack.wait_charged(tenant, background, SETTLE_WITHIN, progress)
    return {"events_per_s": options.paced_rate, **figures.lag(start, acks, answers)}


async def _check(fast: aiohttp.ClientSession, body: bytes) -> dict[str, Any]:
    status, answered = await _post(fast, CHECK_PATH, body)
    if status != 200:
        raise InfraError(f"the check failed: {status} {answered[:200]!r}")
    answer: dict[str, Any] = orjson.loads(answered)
    return answer


async def _spend(fast: aiohttp.ClientSession, body: bytes) -> None:
    """Send one event, which must be accepted (a 503 here would distort the figures anyway)."""
    status, answered = await _post(fast, bench_load.EVENTS_PATH, body)
    if status != 200 or orjson.loads(answered)["accepted"] != 1:
        raise InfraError(f"an event was not accepted: {status} {answered[:200]!r}")


def _answer(answer: dict[str, Any], at: float) -> figures.Answer:
    as_of = answer["as_of"]
    return figures.Answer(
        at=at,
        balance=parse_decimal(answer["balance"], "balance", allow_negative=True),
        as_of=None if as_of is None else datetime.fromisoformat(as_of),
        lag_ms=answer["lag_ms"],
    )


async def _overspend(
    stack: BenchStack,
    tenant: dict[str, Any],
    api: httpx.AsyncClient,
    fast: aiohttp.ClientSession,
    customers: list[str],
    index: int,
    rate: int,
    options: BenchOptions,
    progress: Progress,
    *,
    hold: bool = False,
) -> dict[str, Any]:
    """OVERSPEND_CLIENTS callers each check 1 credit and, if allowed, spend it, until each is denied;
    beside `rate` events/s on the other customers. With `hold`, each check reserves the credit for the
    event the client is about to send."""
    customer = f"chk-over-{index}"
    background = _background(f"chk-over-bg{index}-", customers, rate, options) if rate else None
    progress(
        f"credits checks: overspend, {OVERSPEND_CLIENTS} clients against {OVERSPEND_GRANT} credits"
        + (f", beside {rate:,} events/s" if rate else "")
        + (", checks with holds" if hold else "")
    )
    plain = {"customer": customer, "credits": "1"}
    check = orjson.dumps(plain)
    accepted = 0
    by_denial: tuple[float, int] | None = None  # seconds to the first denial, events accepted by then

    async def client(i: int) -> bool:
        nonlocal accepted, by_denial
        n = 0
        while time.perf_counter() < until:
            event_id = f"{customer}-{i}-{n}"
            asked = orjson.dumps({**plain, "hold": {"event_id": event_id}}) if hold else check
            if not (await _check(fast, asked))["allowed"]:
                if by_denial is None:
                    by_denial = (time.perf_counter() - began, accepted)
                return True
            event = {"events": [{"id": event_id, "customer": customer, "type": CALL}]}
            await _spend(fast, orjson.dumps(event))
            accepted += 1
            n += 1
        return False

    loading = None if background is None else asyncio.ensure_future(_paced(api, background, rate, options))
    try:
        if loading is not None:
            await asyncio.sleep(HEAD_START)  # the background load builds up its lag first
        began = time.perf_counter()
        until = began + OVERSPEND_DEADLINE
        denied = sum(await asyncio.gather(*(client(i) for i in range(OVERSPEND_CLIENTS))))
        all_denied = time.perf_counter() - began
    finally:
        if loading is not None:
            await loading
    if by_denial is None or denied < OVERSPEND_CLIENTS:
        raise InfraError(
            f"{OVERSPEND_CLIENTS - denied} clients were never denied within {OVERSPEND_DEADLINE:.0f}s"
        )
    expected = CONTEXT.subtract(Decimal(OVERSPEND_GRANT), Decimal(accepted))
    balance = await _settled(api, customer, expected)
    if background is not None:
        await stack.wait_charged(tenant, background, SETTLE_WITHIN, progress)
    lat = await bench_load.latency(stack.db, tenant["tenant_id"], customer + "-")
    return {
        **figures.overspend(
            background_events_per_s=rate,
            clients=OVERSPEND_CLIENTS,
            grant=OVERSPEND_GRANT,
            accepted=accepted,
            balance=balance,
            first_denial_s=by_denial[0],
            accepted_by_first_denial=by_denial[1],
            all_denied_s=all_denied,
            lag_p50_ms=float(lat["p50"]),
            lag_p99_ms=float(lat["p99"]),
        ),
        "hold": hold,
    }


async def _settled(api: httpx.AsyncClient, customer: str, expected: Decimal) -> Decimal:
    """The customer's balance once it is `expected`, i.e. once every accepted event is charged."""
    deadline = time.monotonic() + SETTLE_WITHIN
    balance = None
    while time.monotonic() < deadline:
        response = await api.get(f"/v1/customers/{customer}/balance")
        if response.status_code == 200:
            balance = parse_decimal(orjson.loads(response.content)["balance"], "balance", allow_negative=True)
            if balance == expected:
                return balance
        await asyncio.sleep(0.05)
    raise InfraError(f"{customer}'s balance was {balance}, not {expected}, after {SETTLE_WITHIN:.0f}s")
