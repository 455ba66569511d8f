"""The `run` and `infra up|down|status` commands; `add_commands` plugs them into the `revos` CLI.

Each command sets `handler(args, settings) -> int` on its parser (`args.handler`), the exit code.
`python -m infra.cli.stack ...` runs these commands on their own.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from infra.bench.options import add_arguments as add_bench_arguments
from infra.broker import EmbeddedBroker
from infra.errors import HomeLockedError
from infra.home import Home, HomeLock, lock_holder
from infra.launcher import run_stack
from infra.postgres import EmbeddedPostgres
from pipeline.errors import RevosError
from pipeline.settings import Settings

log = logging.getLogger(__name__)


def add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register `run`, `infra` (with `up`, `down`, `status`) and `bench` on a `revos` sub-command set."""
    run = subparsers.add_parser("run", help="run the whole stack in the foreground until Ctrl-C")
    run.set_defaults(handler=_run)
    infra = subparsers.add_parser("infra", help="start, stop or inspect the embedded broker and database")
    commands = infra.add_subparsers(dest="infra_command", required=True, metavar="{up,down,status}")
    up = commands.add_parser("up", help="start the embedded broker and database in the background")
    up.set_defaults(handler=_up)
    down = commands.add_parser("down", help="stop what `infra up` started (safe to repeat)")
    down.set_defaults(handler=_down)
    status = commands.add_parser("status", help="print what runs on this REVOS_HOME, as JSON")
    status.set_defaults(handler=_status)
    bench = subparsers.add_parser(
        "bench", help="measure throughput and latency on a private stack (never the running one)"
    )
    add_bench_arguments(bench)
    bench.set_defaults(handler=_bench)


def _bench(args: argparse.Namespace, settings: Settings) -> int:
    from infra.bench.run import command  # local: the benchmark pulls in the pipeline and the SDK

    return command(args, settings)


def _run(args: argparse.Namespace, settings: Settings) -> int:
    if (
        settings.log_to == "files"
    ):  # beside the terminal, the launcher's lines join the others' for `revos logs`
        from infra.logs.config import file_handler

        logging.getLogger().addHandler(
            file_handler(Home(settings.home).logs / "launcher.log", "json", "launcher")
        )
    try:
        return run_stack(settings)
    except RevosError as exc:
        print(f"revos: {exc}", file=sys.stderr)
        return 1


def _up(args: argparse.Namespace, settings: Settings) -> int:
    home = Home(settings.home).ensure()
    parts = _parts(settings)
    started: list[EmbeddedBroker | EmbeddedPostgres] = []
    try:
        with HomeLock(home.root):
            for part in parts:
                if home.detached_marker.exists() and part.is_running():
                    log.info("the embedded %s is already running (pid %s)", part.name, part.pid)
                    continue
                # Anything else still running on this home was orphaned by a dead launcher: start()
                # replaces it.
                part.start(detached=True)
                started.append(part)
            home.detached_marker.write_text("started by `revos infra up`; `revos infra down` stops them\n")
    except RevosError as exc:
        for part in reversed(started):
            part.stop()
        print(f"revos: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(_describe(settings), indent=2))
    return 0


def _down(args: argparse.Namespace, settings: Settings) -> int:
    home = Home(settings.home)
    if not home.root.exists():
        return 0
    try:
        with HomeLock(home.root):
            # Every part, whatever the settings say now: a service started before REVOS_*_URL was set
            # is still ours to stop.
            for part in reversed(_parts(settings, embedded_only=False)):
                part.stop()
            home.detached_marker.unlink(missing_ok=True)
    except HomeLockedError as exc:
        pid = "PID" if exc.pid is None else exc.pid
        print(
            f"revos: a Revos launcher owns REVOS_HOME={home.root}; stop it with Ctrl-C or `kill -TERM {pid}`",
            file=sys.stderr,
        )
        return 1
    except RevosError as exc:
        print(f"revos: {exc}", file=sys.stderr)
        return 1
    return 0


def _status(args: argparse.Namespace, settings: Settings) -> int:
    described = _describe(settings)
    described["delivery"] = asyncio.run(_delivery(settings))
    described["voice"] = asyncio.run(_voice(settings))
    described["workers"] = asyncio.run(_worker_errors(settings))
    described["product"] = asyncio.run(_product(settings))
    print(json.dumps(described, indent=2))
    return 0


async def _delivery(settings: Settings) -> dict[str, Any]:
    """Where acknowledgements rest, what is acknowledged but not yet applied, and the broker logs lost;
    `reachable: false` when the database does not answer."""
    from projections.outbox import delivery_status  # local: status must work without a database

    facts: dict[str, Any] = {"outbox": settings.uses_outbox}
    try:
        facts.update(await asyncio.wait_for(delivery_status(settings.dsn), 5))
    except Exception as exc:  # a stopped stack is a normal answer here, not an error
        facts.update(reachable=False, error=type(exc).__name__)
    return facts


async def _worker_errors(settings: Settings) -> dict[str, Any]:
    from infra.worker_errors import worker_error_rates

    return await worker_error_rates(settings.worker_metrics_port, settings.workers)


async def _product(settings: Settings) -> dict[str, Any]:
    """Activation, time to first value and the chat error rate over every tenant (projections/analytics.py)."""
    from projections.analytics import product_metrics

    return await _read_database(settings, product_metrics, before_schema={"tenants": 0})


async def _voice(settings: Settings) -> dict[str, Any]:
    """Ended calls by end reason and the call drop rate (a share of ended calls, null before any)."""
    from pipeline.voice.calls import drop_rate
    from projections.voice.reads import endings

    async def read(conn: Any) -> dict[str, Any]:
        ended = await endings(conn)
        rate = drop_rate(ended)
        return {"calls_ended": ended, "drop_rate": None if rate is None else round(rate, 4)}

    return await _read_database(settings, read, before_schema={"calls_ended": {}, "drop_rate": None})


async def _read_database(
    settings: Settings, read: Callable[[Any], Awaitable[dict[str, Any]]], *, before_schema: dict[str, Any]
) -> dict[str, Any]:
    """`read`'s answer on a connection of its own; `reachable: false` when the database does not answer,
    and `before_schema` when it has no schema yet (`revos infra up` before a start)."""
    import asyncpg  # local: status must work without a database

    try:
        conn = await asyncio.wait_for(asyncpg.connect(settings.dsn), 5)
    except Exception as exc:  # a stopped stack is a normal answer here, not an error
        return {"reachable": False, "error": type(exc).__name__}
    try:
        return await read(conn)
    except (asyncpg.UndefinedTableError, asyncpg.InvalidSchemaNameError):
        return {"reachable": True, **before_schema}
    finally:
        await conn.close()


def _parts(settings: Settings, *, embedded_only: bool = True) -> list[EmbeddedBroker | EmbeddedPostgres]:
    parts: list[EmbeddedBroker | EmbeddedPostgres] = []
    if settings.embedded_broker or not embedded_only:
        parts.append(EmbeddedBroker(settings.home, settings.broker_port))
    if settings.embedded_database or not embedded_only:
        parts.append(EmbeddedPostgres(settings.home, settings.postgres_port))
    return parts


def _describe(settings: Settings) -> dict[str, Any]:
    """Facts about this home: the launcher holding it, and each service (running: null when external)."""
    home = Home(settings.home)
    holder = lock_holder(home.root)
    broker = EmbeddedBroker(settings.home, settings.broker_port)
    postgres = EmbeddedPostgres(settings.home, settings.postgres_port)
    broker_pid = broker.pid if settings.embedded_broker else None
    postgres_pid = postgres.pid if settings.embedded_database else None
    return {
        "home": str(home.root),
        "launcher": {"running": holder is not None, "pid": None if holder is None else holder.pid},
        "detached": home.detached_marker.exists(),
        "broker": {
            "embedded": settings.embedded_broker,
            "running": broker_pid is not None if settings.embedded_broker else None,
            "pid": broker_pid,
            "address": settings.bootstrap_servers,
        },
        "postgres": {
            "embedded": settings.embedded_database,
            "running": postgres_pid is not None if settings.embedded_database else None,
            "pid": postgres_pid,
            "port": settings.postgres_port if settings.embedded_database else None,
            "dsn": settings.shown_dsn,
        },
    }


def main(argv: list[str] | None = None) -> int:
    """Run one of these commands on its own, e.g. `python -m infra.cli.stack infra status`."""
    parser = argparse.ArgumentParser(prog="python -m infra.cli.stack", description="Revos stack and services")
    add_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = Settings.from_env()
    except RevosError as exc:
        print(f"revos: {exc}", file=sys.stderr)
        return 2
    code: int = args.handler(args, settings)
    return code


if __name__ == "__main__":
    sys.exit(main())
