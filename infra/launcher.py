"""The foreground launcher behind `revos run`: broker, database, topics and migrations, workers, gateway."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, Protocol, TextIO

from infra.broker import EmbeddedBroker
from infra.errors import InfraError
from infra.home import Home, HomeLock
from infra.postgres import EmbeddedPostgres
from infra.processes import Child, ChildSpec, describe_exit, spawn
from pipeline.settings import Settings

log = logging.getLogger(__name__)

Prepare = Callable[[Settings], Awaitable[None]]

_SUPERVISE_TICK = 2.0  # a safety net: SIGCHLD normally wakes the supervisor at once


class _Part(Protocol):
    """Anything the launcher started and must watch and stop."""

    @property
    def name(self) -> str: ...

    @property
    def log_path(self) -> Path: ...

    def poll(self) -> int | None: ...

    def log_tail(self, lines: int = 20) -> str: ...

    def stop(self) -> object: ...


def default_children(settings: Settings) -> list[ChildSpec]:
    """The outbox relay (with the outbox), `settings.workers` stream workers, then one gateway; the
    launcher stops them in reverse order."""
    python = sys.executable
    # A worker whose launcher died may find the broker gone too and never finish a graceful stop;
    # killing it is safe, since offsets are committed only after their effects.
    workers = [
        ChildSpec(
            f"worker-{i}",
            (python, "-m", "infra.cli.main", "worker", "--worker-id", str(i)),
            death_signal=signal.SIGKILL,
        )
        for i in range(settings.workers)
    ]
    gateway = ChildSpec("gateway", (python, "-m", "infra.cli.main", "gateway"), drain_signal=signal.SIGUSR1)
    # Started first, so it holds the relay's lock: the workers' own relays stand by, and their core
    # stays with the stream processors.
    relay = [ChildSpec("relay", (python, "-m", "infra.cli.main", "relay"))] if settings.uses_outbox else []
    return [*relay, *workers, gateway]


def child_environment(settings: Settings, *, outbox: bool | None = None) -> dict[str, str]:
    """What children are told, so that `Settings.from_env` builds these same settings in each: the
    services to use (so they start none of their own), the home, the port, partitions and group, and
    whether acknowledgements rest on the outbox (`outbox`; by default, exactly with the embedded broker)."""
    return {
        "REVOS_HOME": str(settings.home),
        "REVOS_KAFKA_BOOTSTRAP": settings.bootstrap_servers,
        "REVOS_DATABASE_URL": settings.dsn,
        "REVOS_GATEWAY_PORT": str(settings.gateway_port),
        "REVOS_PARTITIONS": str(settings.partitions),
        "REVOS_CONSUMER_GROUP": settings.consumer_group,
        # Decided here, where it is known whether the broker is the embedded one.
        "REVOS_OUTBOX": "on" if (settings.uses_outbox if outbox is None else outbox) else "off",
        "PYTHONUNBUFFERED": "1",  # so their logs are current when we quote them after a crash
    }


async def _default_prepare(settings: Settings) -> None:
    from infra.bootstrap import prepare  # local: the launcher must not import the pipeline's stack early

    await prepare(settings)


def run_stack(
    settings: Settings,
    *,
    children: Sequence[ChildSpec] | None = None,
    prepare: Prepare | None = None,
    out: TextIO | None = None,
) -> int:
    """Run the stack in the foreground: 0 after SIGINT/SIGTERM, 1 when a part exits on its own.

    Holds the home lock throughout; starts the embedded broker and PostgreSQL unless `settings` names
    external ones; awaits `prepare` (topics, migrations); spawns `children` (default: workers and the
    gateway); on the way out stops everything in reverse order. Raises `InfraError` when the stack cannot
    start, after stopping whatever did. Call it from the main thread (signals and death signals need it).
    """
    home = Home(settings.home).ensure()
    stack = _Stack(
        settings,
        home,
        default_children(settings) if children is None else children,
        _default_prepare if prepare is None else prepare,
        sys.stdout if out is None else out,
    )
    with HomeLock(home.root):
        _refuse_detached_services(settings, home)
        try:
            return asyncio.run(stack.run())
        finally:
            # Outside the loop, so a second Ctrl-C or SIGTERM ends the launcher at once; the children
            # left then get their death signal.
            stack.stop()


def _refuse_detached_services(settings: Settings, home: Home) -> None:
    if not home.detached_marker.exists():
        return
    running = [
        part.name
        for part, embedded in (
            (EmbeddedBroker(home.root, settings.broker_port), settings.embedded_broker),
            (EmbeddedPostgres(home.root, settings.postgres_port), settings.embedded_database),
        )
        if embedded and part.is_running()
    ]
    if running:
        verb = "are" if len(running) > 1 else "is"
        raise InfraError(
            f"the embedded {' and '.join(running)} started by `revos infra up` on REVOS_HOME={home.root} "
            f"{verb} still running; stop it with `revos infra down` first"
        )
    home.detached_marker.unlink(missing_ok=True)


class _Stack:
    """The parts of one running stack, in start order."""

    def __init__(
        self, settings: Settings, home: Home, specs: Sequence[ChildSpec], prepare: Prepare, out: TextIO
    ) -> None:
        self._settings = settings
        self._home = home
        self._specs = specs
        self._prepare = prepare
        self._out = out
        self._parts: list[_Part] = []

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        changed = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, _request_stop, stop, sig)
        loop.add_signal_handler(signal.SIGCHLD, changed.set)
        try:
            if not await self._start(stop):
                return 0
            self._banner()
            code = await self._supervise(stop, changed)
            if code == 0 and any(isinstance(p, Child) for p in self._parts):
                try:
                    await _unless_stopped(self._drain(), self._second_stop(loop))
                except Exception:
                    log.exception("could not drain; stopping anyway (what is acknowledged stays kept)")
            return code
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGCHLD):
                loop.remove_signal_handler(sig)

    def stop(self) -> None:
        """Stop every part, last started first; a part that fails to stop does not spare the others."""
        while self._parts:
            part = self._parts.pop()
            log.info("stopping %s", part.name)
            try:
                part.stop()
            except Exception:
                log.exception("could not stop %s cleanly", part.name)

    async def _start(self, stop: asyncio.Event) -> bool:
        settings, home = self._settings, self._home
        if settings.embedded_broker:
            broker = EmbeddedBroker(home.root, settings.broker_port)
            broker.start()
            self._parts.append(broker)
        if settings.embedded_database:
            postgres = EmbeddedPostgres(home.root, settings.postgres_port)
            postgres.start()
            self._parts.append(postgres)
            # Made on the first start: every process is given the DSN that carries it.
            settings = self._settings = replace(settings, postgres_password=postgres.password)
        if not await _unless_stopped(self._prepare(settings), stop):
            return False
        env = child_environment(settings)
        for spec in self._specs:
            child = spawn(
                replace(spec, env={**env, **(spec.env or {})}), home.logs, to_file=settings.log_to != "stdout"
            )
            self._parts.append(child)
        return True

    async def _supervise(self, stop: asyncio.Event, changed: asyncio.Event) -> int:
        while not stop.is_set():
            changed.clear()  # before polling, so an exit between the poll and the wait is not missed
            for part in self._parts:
                code = part.poll()
                if code is not None:
                    log.error(
                        "%s exited unexpectedly (%s); stopping the stack. Last lines of %s:\n%s",
                        part.name,
                        describe_exit(code),
                        part.log_path,
                        part.log_tail(),
                    )
                    return 1
            await _first_of(stop.wait(), changed.wait(), within=_SUPERVISE_TICK)
        return 0

    def _second_stop(self, loop: asyncio.AbstractEventLoop) -> asyncio.Event:
        """An event set by the next SIGINT or SIGTERM: a second Ctrl-C cuts the drain short."""
        again = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, _request_stop, again, sig)
        return again

    async def _drain(self) -> None:
        """Before stopping: the gateway refuses new writes, and the workers apply every record it
        acknowledged (the outbox empties), within `settings.drain_seconds`; then the gateway stops."""
        if not self._settings.uses_outbox:
            log.info("acknowledged records rest on the broker; the workers resume from their offsets")
            return
        from projections.db import create_pool
        from projections.outbox import pending  # local: the launcher must not import the stack early

        first = [p for p in self._parts if isinstance(p, Child) and _drained_first(p)]
        for child in first:
            if child.poll() is None:
                child.process.send_signal(child.spec.drain_signal)  # type: ignore[arg-type]
        bound = self._settings.drain_seconds
        started = time.monotonic()
        pool = await create_pool(self._settings.dsn, min_size=1, max_size=1)
        try:
            left = await pending(pool)
            log.info("draining: %d acknowledged records not yet applied; waiting up to %.0f s", left, bound)
            for child in first:  # its last answers are committed once it has stopped
                left = await self._wait_applied(pool, started + bound)
                child.stop()
            left = await self._wait_applied(pool, started + bound)
        finally:
            await pool.close()
        took = time.monotonic() - started
        if left:
            log.warning(
                "drain bound of %.0f s reached: %d acknowledged records not yet applied stay in the outbox; "
                "the next start applies them",
                bound,
                left,
            )
        else:
            log.info("drained in %.1f s: every acknowledged record is applied", took)

    async def _wait_applied(self, pool: Any, until: float) -> int:
        """Wait until the outbox is empty, `until` passes or a worker exits; how many records are left."""
        from projections.outbox import pending

        while True:
            left = await pending(pool)
            if left == 0 or time.monotonic() >= until:
                return left
            if any(p.poll() is not None for p in self._parts if not _drained_first(p)):
                log.warning("a process exited while draining; %d records stay in the outbox", left)
                return left
            await asyncio.sleep(0.1)

    def _banner(self) -> None:
        settings = self._settings
        broker = "embedded" if settings.embedded_broker else "external"
        database = "embedded" if settings.embedded_database else "external"
        names = ", ".join(spec.name for spec in self._specs) or "none"
        url = f"http://{settings.gateway_host}:{settings.gateway_port}"
        start = f"{url}/signup" if settings.signup_open else f"{url}/login"
        base = settings.worker_metrics_port
        metrics = (
            f"  metrics   {url}/metrics (gateway)"
            + "".join(f", http://127.0.0.1:{base + w}/metrics (worker-{w})" for w in range(settings.workers))
            + "\n"
            if base
            else ""
        )
        tracing = "  tracing   on (OTLP)\n" if settings.otlp_traces else ""
        print(
            f"Revos is running (launcher pid {os.getpid()})\n"
            f"  dashboard {start}\n"
            f"  gateway   {url}\n"
            f"  broker    {settings.bootstrap_servers} ({broker})\n"
            f"  database  {settings.shown_dsn} ({database})\n"
            f"  processes {names}\n"
            f"  logs      {self._home.logs}\n"
            f"{metrics}{tracing}"
            f"Stop with Ctrl-C or `kill -TERM {os.getpid()}`.",
            file=self._out,
            flush=True,
        )


def _drained_first(part: _Part) -> bool:
    """A child that takes no new work while the others drain, and stops before them (the gateway)."""
    return isinstance(part, Child) and part.spec.drain_signal is not None


def _request_stop(stop: asyncio.Event, sig: signal.Signals) -> None:
    if not stop.is_set():
        log.info("received %s; stopping", sig.name)
    stop.set()


async def _unless_stopped(work: Awaitable[None], stop: asyncio.Event) -> bool:
    """Await `work` unless a stop is requested first (then cancel it): whether it completed."""
    task = asyncio.ensure_future(work)
    stopped = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, stopped}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for pending in (task, stopped):
            pending.cancel()
        await asyncio.gather(task, stopped, return_exceptions=True)
    if task.cancelled():
        return False
    task.result()  # re-raises what `work` raised
    return True


async def _first_of(*aws: Awaitable[object], within: float | None = None) -> None:
    """Wait until one of `aws` completes or `within` seconds pass, cancelling the rest."""
    tasks = [asyncio.ensure_future(aw) for aw in aws]
    try:
        await asyncio.wait(tasks, timeout=within, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            if not task.done():
                task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
