"""An acknowledgement is a promise: the default stack (`revos run`: embedded broker and PostgreSQL, one
worker, the gateway) keeps everything it acknowledged through a clean stop, a crash of any one part and a
power cut, and applies it exactly once when it runs again.

Each scenario sends 50,000 usage events over HTTP while grants and an agent are written beside them,
stops or kills the stack right after the last acknowledgement (while the worker is still far behind),
starts it again as a user would, and checks every charge, grant, audit entry and balance.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import psutil
import pytest
from waiting import eventually

from infra.broker import EmbeddedBroker
from infra.ports import free_port
from infra.postgres import EmbeddedPostgres
from pipeline.settings import Settings

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
EVENTS = 50_000
PER_REQUEST = 1_000
CUSTOMERS = 200
PRICE = Decimal("0.01")
BASE_GRANT = Decimal("1000")
EXTRA_GRANT = Decimal("5")
EXTRA_GRANTS = 40  # written while the events stream in
AGENTS = 5  # likewise


class DefaultStack:
    """`revos run` in a subprocess on its own home and ports: exactly what `make run` starts."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.gateway_port, self.broker_port, self.postgres_port = free_port(), free_port(), free_port()
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("REVOS_")}
        self.env.update(
            REVOS_HOME=str(home),
            REVOS_GATEWAY_PORT=str(self.gateway_port),
            REVOS_BROKER_PORT=str(self.broker_port),
            REVOS_POSTGRES_PORT=str(self.postgres_port),
            PYTHONPATH=str(ROOT),
        )
        self.output = home / "launcher.out"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.gateway_port}"

    @property
    def dsn(self) -> str:
        return Settings.from_env(self.env).dsn  # the password is made on the stack's first start

    def start(self) -> None:
        with open(self.output, "ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "infra.cli.main", "run"],
                env=self.env,
                cwd=ROOT,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    async def wait_ready(self) -> None:
        async with httpx.AsyncClient(base_url=self.url) as client:

            async def ready() -> bool:
                assert self.process is not None and self.process.poll() is None, self.tail()
                try:
                    return (await client.get("/readyz")).status_code == 200
                except httpx.TransportError:
                    return False

            await eventually(ready, timeout=120, every=0.2, what="the stack to be ready")

    def pids(self) -> dict[str, list[int]]:
        """Every process of the running stack, by part."""
        assert self.process is not None
        found: dict[str, list[int]] = {
            "launcher": [self.process.pid],
            "worker": [],
            "gateway": [],
            "relay": [],
        }
        for child in psutil.Process(self.process.pid).children(recursive=True):
            with contextlib.suppress(psutil.NoSuchProcess):
                line = " ".join(child.cmdline())
                for part in ("worker", "gateway", "relay"):
                    if f"infra.cli.main {part}" in line:
                        found[part].append(child.pid)
        broker = EmbeddedBroker(self.home, self.broker_port).pid
        postgres = EmbeddedPostgres(self.home, self.postgres_port).pid
        assert broker is not None and postgres is not None
        found["broker"] = [broker]
        found["postgres"] = [postgres, *(p.pid for p in psutil.Process(postgres).children(recursive=True))]
        return found

    def wait_exit(self, timeout: float = 120) -> int:
        assert self.process is not None
        return self.process.wait(timeout)

    def tail(self, lines: int = 60) -> str:
        text = self.output.read_text(errors="replace") if self.output.exists() else ""
        logs = "".join(
            f"\n--- {p.name} ---\n" + "\n".join(p.read_text(errors="replace").splitlines()[-30:])
            for p in sorted((self.home / "logs").glob("*.log"))
        )
        return "\n".join(text.splitlines()[-lines:]) + logs

    def cli(self, *args: str) -> Any:
        done = subprocess.run(
            [sys.executable, "-m", "infra.cli.main", *args],
            env=self.env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    def kill_everything(self) -> None:
        """Whatever is left, at the end of a test."""
        with contextlib.suppress(Exception):
            for pids in self.pids().values():
                for pid in pids:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(Exception):
            pid = EmbeddedPostgres(self.home, self.postgres_port).pid
            if pid is not None:
                os.kill(pid, signal.SIGKILL)
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def _customer(n: int) -> str:
    return f"cust_{n % CUSTOMERS:03d}"


async def _prepare(stack: DefaultStack, api: httpx.AsyncClient) -> None:
    table = {"rules": [{"type": "api.call", "credits_per_unit": str(PRICE)}]}
    assert (await api.put("/v1/burn-tables/default", json=table)).status_code == 200
    base = [
        api.post(f"/v1/customers/{_customer(n)}/grants", json={"id": "base", "amount": str(BASE_GRANT)})
        for n in range(CUSTOMERS)
    ]
    assert {r.status_code for r in await asyncio.gather(*base)} <= {200, 201, 202}


async def _ingest(api: httpx.AsyncClient, numbers: range) -> int:
    """Events `numbers` in requests of 1,000 on four connections; returns how many were acknowledged."""
    batches = [range(i, i + PER_REQUEST) for i in range(numbers.start, numbers.stop, PER_REQUEST)]
    accepted = 0

    async def lane(first: int) -> None:
        nonlocal accepted
        for batch in batches[first::4]:
            events = [{"id": f"evt_{n}", "customer": _customer(n), "type": "api.call"} for n in batch]
            response = await api.post("/v1/events", json={"events": events})
            assert response.status_code == 200, response.text
            accepted += response.json()["accepted"]

    await asyncio.gather(*(lane(first) for first in range(4)))
    return accepted


async def _admin(api: httpx.AsyncClient, acknowledged: list[str]) -> None:
    """Grants and agents written while the events stream in; `acknowledged` gets each one answered."""

    async def write(name: str, path: str, body: dict[str, Any]) -> None:
        response = await api.post(path, json=body)
        assert response.status_code in (200, 201, 202), response.text
        acknowledged.append(name if not name.startswith("agent") else response.json()["agent_id"])

    grants = [
        write(
            f"extra_{i}",
            f"/v1/customers/{_customer(i)}/grants",
            {"id": f"extra_{i}", "amount": str(EXTRA_GRANT)},
        )
        for i in range(EXTRA_GRANTS)
    ]
    agents = [
        write(
            f"agent_{i}",
            "/v1/agents",
            {"name": f"Helper {i}", "template": "support", "customer": _customer(i)},
        )
        for i in range(AGENTS)
    ]
    await asyncio.gather(*grants, *agents)


async def _applied(stack: DefaultStack, tenant_id: str) -> int:
    conn = await asyncpg.connect(stack.dsn)
    try:
        count: int = await conn.fetchval("SELECT count(*) FROM charges WHERE tenant_id = $1", tenant_id)
        return count
    finally:
        await conn.close()


async def _check_everything_applied_once(
    stack: DefaultStack, tenant: dict[str, Any], sent: Any, *, recovered: bool
) -> None:
    tenant_id = tenant["tenant_id"]
    assert sent["accepted"] == EVENTS

    async def all_charged() -> bool:
        return await _applied(stack, tenant_id) == EVENTS

    try:
        await eventually(all_charged, timeout=300, every=0.5, what=f"{EVENTS} charges after the restart")
    except AssertionError:
        raise AssertionError(
            f"charged {await _applied(stack, tenant_id)} of {EVENTS}\n{stack.tail()}"
        ) from None

    conn = await asyncpg.connect(stack.dsn)
    try:
        dead = await conn.fetch("SELECT code, message FROM dead_letters WHERE tenant_id = $1", tenant_id)
        assert not dead, dead
        rows = await conn.fetch(
            "SELECT customer, grant_id, amount FROM grants WHERE tenant_id = $1", tenant_id
        )
        extras = {r["grant_id"]: r for r in rows if r["grant_id"] != "base"}
        assert len(rows) - len(extras) == CUSTOMERS
        acknowledged = [g for g in sent["acknowledged"] if g.startswith("extra_")]
        assert sorted(acknowledged) == sorted(extras) == sorted(f"extra_{i}" for i in range(EXTRA_GRANTS))
        agents = await conn.fetch("SELECT agent_id FROM assistants WHERE tenant_id = $1", tenant_id)
        stored = [r["agent_id"] for r in agents]
        assert sorted(stored) == sorted(a for a in sent["acknowledged"] if a.startswith("agt_"))
        assert len(stored) == AGENTS
        trail = await conn.fetch(
            "SELECT action, count(*) AS n FROM audit_log WHERE tenant_id = $1 GROUP BY action", tenant_id
        )
        actions = {r["action"]: r["n"] for r in trail}
        assert actions.get("grant.create") == len(rows), actions
        assert actions.get("burn_table.publish") == 1, actions
        assert actions.get("agent.create") == len(stored), actions
        assert await conn.fetchval("SELECT count(*) FROM outbox WHERE NOT regenerable") == 0
        # Loss is never silent: a restart that had to recover records from the outbox says so.
        republished = await conn.fetchval("SELECT max(outbox_republished) FROM broker_log_losses")
        if recovered:
            assert republished and republished > 0
            assert "published again" in stack.output.read_text() + _logs(stack)
        else:
            assert not republished  # a clean stop left nothing to recover
    finally:
        await conn.close()

    extra: dict[str, Decimal] = {}
    for grant in extras.values():
        extra[grant["customer"]] = extra.get(grant["customer"], Decimal(0)) + grant["amount"]
    headers = {"Authorization": f"Bearer {tenant['api_key']}"}
    async with httpx.AsyncClient(base_url=stack.url, headers=headers, timeout=30) as api:
        for n in range(CUSTOMERS):
            customer = _customer(n)
            response = await api.get(f"/v1/customers/{customer}/balance")
            assert response.status_code == 200, response.text
            charged = (EVENTS // CUSTOMERS) * PRICE
            expected = BASE_GRANT + extra.get(customer, Decimal(0)) - charged
            assert Decimal(response.json()["balance"]) == expected, (customer, response.json())


def _kill(stack: DefaultStack, *parts: str) -> Callable[[], None]:
    def kill() -> None:
        pids = stack.pids()
        for part in parts:
            for pid in pids[part]:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)

    return kill


@pytest.fixture
def default_stack(revos_home: Path) -> Iterator[DefaultStack]:
    stack = DefaultStack(revos_home)
    try:
        yield stack
    finally:
        stack.kill_everything()


async def _scenario(stack: DefaultStack, failure: str) -> None:
    stack.start()
    await stack.wait_ready()
    tenant = stack.cli("tenant", "create", "acme")
    headers = {"Authorization": f"Bearer {tenant['api_key']}"}
    acknowledged: list[str] = []
    async with httpx.AsyncClient(base_url=stack.url, headers=headers, timeout=60) as api:
        await _prepare(stack, api)
        # Half the events with the admin writes beside them (each answered once applied, or as pending
        # after 10 s), then the other half, and the stop or kill right after the last acknowledgement.
        admin = asyncio.create_task(_admin(api, acknowledged))
        accepted = await _ingest(api, range(0, EVENTS // 2))
        await admin
        accepted += await _ingest(api, range(EVENTS // 2, EVENTS))
        applied_before = await _applied(stack, tenant["tenant_id"])
        assert applied_before < EVENTS, "the worker caught up before the stop; the scenario proves nothing"
        await asyncio.to_thread(_stop, stack, failure)
    sent = {"accepted": accepted, "acknowledged": acknowledged}

    stack.start()
    await stack.wait_ready()
    await _check_everything_applied_once(stack, tenant, sent, recovered=failure != "ctrl-c")
    assert stack.process is not None
    stack.process.send_signal(signal.SIGINT)
    assert stack.wait_exit() == 0, stack.tail()


def _stop(stack: DefaultStack, failure: str) -> None:
    assert stack.process is not None
    if failure == "ctrl-c":
        stack.process.send_signal(signal.SIGINT)
        assert stack.wait_exit() == 0, stack.tail()
        assert "drained in" in stack.output.read_text(), stack.tail()
        # A clean stop applies everything before it stops.
        assert not _postgres_alive_after_stop(stack), "the launcher left PostgreSQL running"
    else:
        everything = {"all": ("launcher", "relay", "worker", "gateway", "broker", "postgres")}
        _kill(stack, *everything.get(failure, (failure,)))()
        if failure in ("broker", "worker"):
            assert stack.wait_exit() == 1, stack.tail()  # the launcher stops the stack when a part dies
        else:
            stack.wait_exit()


def _logs(stack: DefaultStack) -> str:
    return "".join(p.read_text(errors="replace") for p in (stack.home / "logs").glob("*.log"))


def _postgres_alive_after_stop(stack: DefaultStack) -> bool:
    return EmbeddedPostgres(stack.home, stack.postgres_port).pid is not None


async def test_ctrl_c_drains_everything_acknowledged_before_stopping(default_stack: DefaultStack) -> None:
    await _scenario(default_stack, "ctrl-c")


@pytest.mark.parametrize("part", ["broker", "worker", "launcher", "all"])
async def test_what_was_acknowledged_survives_a_kill(default_stack: DefaultStack, part: str) -> None:
    await _scenario(default_stack, part)
