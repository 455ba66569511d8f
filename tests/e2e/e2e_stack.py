"""A whole Revos stack for end-to-end tests: its own broker, a database, worker and gateway processes."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from waiting import eventually

from infra.bootstrap import prepare
from infra.broker import EmbeddedBroker
from infra.cli.admin import create_tenant_and_wait
from infra.launcher import child_environment
from infra.ports import free_port
from infra.processes import Child, ChildSpec, spawn
from pipeline.settings import Settings


@dataclass
class Stack:
    home: Path
    settings: Settings
    broker: EmbeddedBroker | None
    workers: dict[int, Child] = field(default_factory=dict)
    gateway: Child | None = None
    pool: asyncpg.Pool | None = None
    # Acknowledgements rest on PostgreSQL (the outbox), as on the default stack with its embedded broker.
    outbox: bool = True
    log_level: str = "warning"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.settings.gateway_port}"

    def env(self) -> dict[str, str]:
        return child_environment(self.settings, outbox=self.outbox)

    def start_worker(self, worker_id: int = 0, *, env: Mapping[str, str] | None = None) -> Child:
        """Start a worker; `env` overrides the stack's environment for this worker only."""
        spec = ChildSpec(
            f"worker-{worker_id}",
            (
                sys.executable,
                "-m",
                "infra.cli.main",
                "--log-level",
                self.log_level,
                "worker",
                "--worker-id",
                str(worker_id),
            ),
            env={**self.env(), **(env or {})},
            death_signal=signal.SIGKILL,  # if pytest dies, the broker goes too: a graceful stop could hang
        )
        child = self.workers[worker_id] = spawn(spec, self.home / "logs")
        return child

    def kill_worker(self, worker_id: int = 0) -> None:
        child = self.workers.pop(worker_id)
        os.kill(child.pid, 9)
        child.process.wait(10)

    def start_gateway(self, *, env: Mapping[str, str] | None = None) -> Child:
        """Start the gateway; `env` overrides the stack's environment for the gateway only."""
        self.gateway = self.spawn_gateway("gateway", env)
        return self.gateway

    def spawn_gateway(self, name: str, env: Mapping[str, str] | None = None) -> Child:
        """A gateway process on this stack; one started besides the stack's own is the caller's to stop."""
        spec = ChildSpec(
            name,
            (sys.executable, "-m", "infra.cli.main", "--log-level", self.log_level, "gateway"),
            env={**self.env(), **(env or {})},
        )
        return spawn(spec, self.home / "logs")

    async def wait_ready(self, timeout: float = 60.0, *, url: str | None = None) -> None:
        async with httpx.AsyncClient(base_url=url or self.url) as client:

            async def ready() -> bool:
                try:
                    return (await client.get("/readyz")).status_code == 200
                except httpx.TransportError:
                    return False

            await eventually(ready, timeout=timeout, what="the gateway to be ready")

    async def create_tenant(self, name: str = "acme") -> dict[str, Any]:
        """A tenant and key, returned once a worker has applied them (so a worker is consuming)."""
        made: dict[str, Any] = await create_tenant_and_wait(name, self.settings, 90.0)
        assert self.pool is not None
        found = await self.pool.fetchval("SELECT 1 FROM api_keys WHERE key_id = $1", made["key_id"])
        assert found, "the worker never applied the new tenant"
        return made

    def client(self, api_key: str | None) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        return httpx.AsyncClient(base_url=self.url, headers=headers, timeout=30.0)

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run `revos ARGS` against this stack, as an operator would."""
        return subprocess.run(
            [sys.executable, "-m", "infra.cli.main", *args],
            env={**os.environ, **self.env()},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def logs(self) -> str:
        parts = []
        for child in [*self.workers.values(), self.gateway]:
            if child is not None:
                parts.append(f"--- {child.name} ---\n{child.log_tail(200)}")
        return "\n".join(parts)

    async def stop(self) -> None:
        print(self.logs())  # captured by pytest; shown when a test fails
        if self.gateway is not None:
            self.gateway.stop(10)
        for child in self.workers.values():
            child.stop(10)
        self.workers.clear()
        if self.pool is not None:
            await self.pool.close()
        if self.broker is not None:
            self.broker.stop()


async def start_stack(
    service_root: Path,
    dsn: str,
    *,
    workers: int = 1,
    partitions: int = 4,
    broker: str | None = None,
    gateway: bool = True,
    gateway_env: Mapping[str, str] | None = None,
    outbox: bool = True,
    log_level: str = "warning",
) -> Stack:
    """A stack on a fresh broker (unless one is given) and the database at `dsn`."""
    home = Path(tempfile.mkdtemp(prefix="stack-", dir=service_root))
    embedded = None
    if broker is None:
        embedded = EmbeddedBroker(home, free_port())
        embedded.start()
        broker = embedded.bootstrap_servers
    settings = Settings(
        home=home,
        gateway_port=free_port(),
        kafka_bootstrap=broker,
        database_url=dsn,
        partitions=partitions,
        consumer_group="revos-" + uuid.uuid4().hex[:8],
        outbox=outbox,
    )
    stack = Stack(home=home, settings=settings, broker=embedded, outbox=outbox, log_level=log_level)
    try:
        await prepare(settings)
        stack.pool = await asyncpg.create_pool(dsn, min_size=1, max_size=4)
        for i in range(workers):
            stack.start_worker(i)
        if gateway:
            stack.start_gateway(env=gateway_env)
            await stack.wait_ready()
    except BaseException:
        await stack.stop()
        raise
    return stack


async def create_database(server_dsn: str) -> str:
    """A new empty database on the server at `server_dsn`; returns its DSN."""
    from urllib.parse import urlsplit, urlunsplit

    name = f"test_{uuid.uuid4().hex[:16]}"
    conn = await asyncpg.connect(server_dsn)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return urlunsplit(urlsplit(server_dsn)._replace(path=f"/{name}"))


@contextlib.asynccontextmanager
async def stack_on_new_database(
    service_root: Path, server_dsn: str, *, gateway_env: Mapping[str, str] | None = None
) -> AsyncIterator[Stack]:
    """A whole stack on a database of its own, dropped afterwards: for tests sharing one stack."""
    dsn = await create_database(server_dsn)
    stack = await start_stack(service_root, dsn, gateway_env=gateway_env)
    try:
        yield stack
    finally:
        await stack.stop()
        conn = await asyncpg.connect(server_dsn)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{dsn.rsplit("/", 1)[1]}" WITH (FORCE)')
        finally:
            await conn.close()


async def send_all(
    api: httpx.AsyncClient, events: list[dict[str, Any]], *, batch: int = 500
) -> dict[str, int]:
    """POST events in batches, resending a batch on 503 (ids make that safe); counts accepted/rejected."""
    totals = {"accepted": 0, "rejected": 0}
    for start in range(0, len(events), batch):
        chunk = {"events": events[start : start + batch]}
        deadline = time.monotonic() + 60
        while True:
            try:
                response = await api.post("/v1/events", json=chunk)
            except httpx.TransportError:
                response = None
            if response is not None and response.status_code == 200:
                break
            assert time.monotonic() < deadline, f"gateway kept failing: {response and response.text}"
            await asyncio.sleep(0.2)
        body = response.json()
        totals["accepted"] += body["accepted"]
        totals["rejected"] += body["rejected"]
    return totals
