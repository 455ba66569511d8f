"""The benchmark's private stack: its own broker, PostgreSQL, workers and gateway in a temporary home."""

from __future__ import annotations

import asyncio
import shutil
import signal
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import psutil

from infra.bench import load as bench_load
from infra.broker import EmbeddedBroker
from infra.errors import InfraError, StartupError
from infra.launcher import child_environment
from infra.ports import free_port
from infra.postgres import EmbeddedPostgres
from infra.processes import Child, ChildSpec, Deadline, spawn
from pipeline.settings import Settings

BURN_TABLE = {
    "rules": [
        {
            "type": "llm.tokens",
            "match": {"model": "gpt-4o", "direction": "output"},
            "credits_per_unit": "0.01",
        },
        {"type": "llm.tokens", "credits_per_unit": "0.001"},
    ]
}
GRANT_AMOUNT = "1000000000"
_READY_TIMEOUT = 90.0


@dataclass
class BenchStack:
    """Broker, database, `workers` stream workers and one gateway, on free ports under a temporary home."""

    workers: int
    partitions: int = 8
    gateway_env: Mapping[str, str] = field(default_factory=dict)  # the gateway's settings beyond the stack's
    # Acknowledgements rest on PostgreSQL (the outbox), as on `make run`; off, on the broker alone.
    outbox: bool = True
    env: Mapping[str, str] = field(default_factory=dict)  # every child's settings beyond the stack's
    home: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="revos-bench-")))
    settings: Settings | None = None
    broker: EmbeddedBroker | None = None
    postgres: EmbeddedPostgres | None = None
    children: list[Child] = field(default_factory=list)
    pool: asyncpg.Pool | None = None

    @property
    def url(self) -> str:
        assert self.settings is not None
        return f"http://127.0.0.1:{self.settings.gateway_port}"

    @property
    def db(self) -> asyncpg.Pool:
        assert self.pool is not None
        return self.pool

    async def start(self) -> None:
        """Start every part and wait until the gateway is ready; on failure the caller still calls stop()."""
        from infra.bootstrap import prepare

        self.broker = EmbeddedBroker(self.home, free_port())
        self.broker.start()
        self.postgres = EmbeddedPostgres(self.home, free_port())
        self.postgres.start()
        self.settings = Settings(
            home=self.home,
            gateway_port=free_port(),
            broker_port=self.broker.port,
            postgres_port=self.postgres.port,
            kafka_bootstrap=self.broker.bootstrap_servers,
            database_url=self.postgres.dsn,
            partitions=self.partitions,
            workers=self.workers,
            consumer_group="revos-bench-" + uuid.uuid4().hex[:8],
            outbox=self.outbox,
        )
        await prepare(self.settings)
        self.pool = await asyncpg.create_pool(self.settings.dsn, min_size=1, max_size=4)
        if self.outbox:  # as `revos run` does: the relay's work off the workers' core
            self._spawn("relay", "relay")
        for i in range(self.workers):
            self._spawn(f"worker-{i}", "worker", "--worker-id", str(i))
        self._spawn("gateway", "gateway", env=self.gateway_env)
        await self._wait_gateway()

    def _spawn(self, name: str, *command: str, env: Mapping[str, str] | None = None) -> None:
        assert self.settings is not None
        s = self.settings
        base = child_environment(s, outbox=self.outbox)
        argv = (sys.executable, "-m", "infra.cli.main", "--log-level", "warning", *command)
        # SIGKILL if the bench dies: a worker's graceful stop needs the broker, which dies with it.
        spec = ChildSpec(name, argv, env={**base, **self.env, **(env or {})}, death_signal=signal.SIGKILL)
        self.children.append(spawn(spec, self.home / "logs"))

    async def _wait_gateway(self) -> None:
        deadline = Deadline(_READY_TIMEOUT)
        async with httpx.AsyncClient(base_url=self.url) as client:
            while not deadline.expired:
                self.check_alive()
                try:
                    if (await client.get("/readyz")).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
        raise StartupError(f"the benchmark gateway was not ready within {_READY_TIMEOUT:.0f}s")

    async def wait_group(self, within: float = 60.0) -> bool:
        """Wait until every worker is a member of the stable consumer group, so no rebalance hits the load."""
        from aiokafka.admin import AIOKafkaAdminClient

        assert self.settings is not None
        admin = AIOKafkaAdminClient(bootstrap_servers=self.settings.bootstrap_servers)
        await admin.start()
        try:
            deadline = Deadline(within)
            while not deadline.expired:
                self.check_alive()
                groups = await admin.describe_consumer_groups([self.settings.consumer_group])
                group = groups[0].groups[0] if groups and groups[0].groups else None
                # (error_code, group_id, state, protocol_type, protocol, members, ...)
                if group is not None and group[2] == "Stable" and len(group[5]) == self.workers:
                    return True
                await asyncio.sleep(0.5)
        finally:
            await admin.close()
        return False

    def check_alive(self) -> None:
        """Raise with the log tail when a worker or the gateway has exited."""
        for child in self.children:
            code = child.poll()
            if code is not None:
                raise StartupError(f"{child.name} exited ({code}); last lines:\n{child.log_tail(30)}")

    async def create_tenant(self) -> dict[str, Any]:
        """A tenant whose burn table is published; a worker has applied both when this returns."""
        from infra.cli.admin import create_tenant_and_wait

        assert self.settings is not None
        made: dict[str, Any] = await create_tenant_and_wait("bench", self.settings, _READY_TIMEOUT)
        async with self.client(made["api_key"]) as api:
            published = await api.put("/v1/burn-tables/default", json=BURN_TABLE)
            if published.status_code != 200:
                raise StartupError(
                    f"publishing the burn table failed: {published.status_code} {published.text}"
                )
        return made

    async def grant_all(self, api_key: str, customers: list[str], concurrency: int = 8) -> None:
        """Grant credits to every customer, `concurrency` requests at a time; each waits for its projection."""
        slots = asyncio.Semaphore(concurrency)
        async with self.client(api_key) as api:

            async def grant(customer: str) -> None:
                async with slots:
                    body = {"amount": GRANT_AMOUNT, "id": "bench-grant"}
                    response = await api.post(f"/v1/customers/{customer}/grants", json=body)
                    if response.status_code not in (200, 201):
                        raise StartupError(f"granting credits to {customer} failed: {response.text}")

            await asyncio.gather(*(grant(c) for c in customers))

    def client(self, api_key: str) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self.url, headers={"Authorization": f"Bearer {api_key}"}, timeout=120.0
        )

    async def wait_charged(
        self,
        tenant: dict[str, Any],
        load: bench_load.Load,
        within: float,
        progress: Callable[[str], None] | None = None,
    ) -> None:
        """Wait until every event of `load` is charged; raise with how many were, after `within` seconds."""
        async with self.client(tenant["api_key"]) as api:
            done = await bench_load.wait_charged(api, self.db, tenant["tenant_id"], load, within, progress)
        self.check_alive()
        count = await bench_load.charged(self.db, tenant["tenant_id"], load.prefix)
        if not done or count < load.events:
            raise InfraError(
                f"only {count:,} of {load.events:,} {load.prefix!r} events were charged within {within:.0f}s"
            )

    def processes(self) -> dict[str, int]:
        """Pid of every process worth watching, by name (the bench itself included)."""
        named = {child.name: child.pid for child in self.children}
        for part in (self.broker, self.postgres):
            if part is not None and part.pid is not None:
                named[part.name] = part.pid
        named["bench"] = psutil.Process().pid
        return named

    def rss(self, name: str) -> int:
        """Resident memory of one of `processes()`, in bytes."""
        try:
            return int(psutil.Process(self.processes()[name]).memory_info().rss)
        except psutil.Error as exc:
            raise InfraError(f"cannot read the memory of {name}: {exc}") from exc

    async def stop(self) -> None:
        """Stop everything this stack started, last first, then remove its home; safe to call once."""
        if self.pool is not None:
            await self.pool.close()
            self.pool = None
        for child in reversed(self.children):
            child.stop(10)
        self.children.clear()
        for part in (self.postgres, self.broker):
            if part is not None:
                part.stop()
        shutil.rmtree(self.home, ignore_errors=True)


class CpuMeter:
    """CPU used by named processes (PostgreSQL with its backends) over successive intervals."""

    def __init__(
        self, pids: dict[str, int], *, with_children: frozenset[str] = frozenset({"postgres"})
    ) -> None:
        self._procs = {name: _safe(lambda pid=pid: psutil.Process(pid)) for name, pid in pids.items()}
        self._with_children = with_children
        self._before: dict[str, float] = {}
        self._started = 0.0

    def start(self) -> None:
        self._before = {name: self._cpu(name) for name in self._procs}
        self._started = time.perf_counter()

    def lap(self) -> dict[str, float]:
        """Percent of one core each process used since `start()` or the previous lap."""
        now = {name: self._cpu(name) for name in self._procs}
        wall = time.perf_counter() - self._started
        used = {name: round(100.0 * (now[name] - self._before[name]) / wall, 1) for name in self._procs}
        self._before, self._started = now, time.perf_counter()
        return used

    def _cpu(self, name: str) -> float:
        # PostgreSQL works in its backends; the bench's own children are measured on their own.
        proc: psutil.Process | None = self._procs[name]
        if proc is None:
            return 0.0
        family = [proc]
        if name in self._with_children:
            family += _safe(lambda: proc.children(recursive=True)) or []
        total = 0.0
        for p in family:
            times = _safe(p.cpu_times)
            if times is not None:
                total += times.user + times.system
        return total


def _safe(call: Any) -> Any:
    try:
        return call()
    except psutil.Error:
        return None
