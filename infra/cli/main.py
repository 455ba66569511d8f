"""The `revos` command line: run the stack or its pieces, manage tenants, inspect and replay dead letters."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Callable, Sequence

from pipeline.errors import RevosError
from pipeline.settings import Settings

Handler = Callable[[argparse.Namespace, Settings], int]


def _worker(args: argparse.Namespace, settings: Settings) -> int:
    import faust

    from agents.app import build_app
    from infra import tracing
    from infra.bootstrap import prepare

    asyncio.run(prepare(settings))
    (settings.home / "worker" / str(args.worker_id)).mkdir(parents=True, exist_ok=True)
    tracing.setup(settings, "revos-worker")
    if settings.worker_metrics_port:
        from agents import metrics

        metrics.serve(settings.worker_metrics_port + args.worker_id)
    app = build_app(settings, worker_id=args.worker_id)
    asyncio.set_event_loop(asyncio.new_event_loop())
    # Faust sets up logging itself: it gets an empty configuration and the handler `main` configured,
    # so its lines are written like every other (JSON, redacted) and only once.
    app.conf.loghandlers = list(logging.getLogger().handlers)
    worker = faust.Worker(
        app,
        loglevel=args.log_level,
        quiet=True,
        logging_config={"version": 1, "disable_existing_loggers": False},
    )
    worker.execute_from_commandline()
    return 0


def _relay(args: argparse.Namespace, settings: Settings) -> int:
    from agents.relay import run_relay
    from infra import tracing
    from infra.bootstrap import prepare

    asyncio.run(prepare(settings))
    tracing.setup(settings, "revos-relay")
    asyncio.run(run_relay(settings))
    return 0


def _gateway(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from gateway.app import create_app
    from gateway.http.log_redaction import uvicorn_log_config
    from gateway.http.ws_protocol import BoundedWebSocketProtocol
    from infra import tracing
    from pipeline.chat.frames import MAX_FRAME_BYTES

    tracing.setup(settings, "revos-gateway")
    uvicorn.run(
        create_app(settings),
        host=settings.gateway_host,
        port=settings.gateway_port,
        log_level=args.log_level,
        log_config=uvicorn_log_config(settings),
        access_log=False,
        proxy_headers=False,  # the app reads them itself (gateway/http/proxy.py)
        # A chat frame holds at most 16 KiB: a larger one is refused (1009) before it is buffered whole.
        ws=BoundedWebSocketProtocol,
        ws_max_size=MAX_FRAME_BYTES,
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    from infra.cli import admin, audit, dead_letters, logs, sql, users

    parser = argparse.ArgumentParser(prog="revos", description=__doc__)
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    sub = parser.add_subparsers(dest="command", required=True)

    worker = sub.add_parser("worker", help="run a stream worker (joins the consumer group)")
    worker.add_argument("--worker-id", type=int, default=0)
    worker.set_defaults(handler=_worker)

    sub.add_parser("gateway", help="run the HTTP gateway").set_defaults(handler=_gateway)
    sub.add_parser(
        "relay", help="publish acknowledged records from the outbox to the broker (workers do it otherwise)"
    ).set_defaults(handler=_relay)

    admin.add_commands(sub)
    dead_letters.add_commands(sub)
    audit.add_commands(sub)
    users.add_commands(sub)
    logs.add_commands(sub)
    sql.add_commands(sub)
    try:
        from infra.cli import stack
    except ImportError:  # pragma: no cover - infra is part of the same distribution
        pass
    else:
        stack.add_commands(sub)
    return parser


# Commands that run as long-lived processes of the stack, and the process name their log lines carry.
SERVERS = {"gateway": "gateway", "relay": "relay", "run": "launcher"}


def process_name(args: argparse.Namespace) -> str:
    """`worker-<id>`, `gateway`, `relay`, `launcher` (revos run), or `cli` for any other command."""
    if args.command == "worker":
        return f"worker-{args.worker_id}"
    return SERVERS.get(args.command, "cli")


def configure_logging(args: argparse.Namespace, settings: Settings) -> None:
    """JSON lines for the stack's processes; text for a command a person runs, unless told otherwise."""
    from infra.logs.config import configure

    process = process_name(args)
    # The launcher and other commands talk to a terminal (the launcher's lines also go to
    # logs/launcher.log as JSON); the processes it starts write JSON for `revos logs`.
    person = process in ("cli", "launcher")
    fmt = settings.log_format or ("text" if person else "json")
    configure(
        process,
        level=args.log_level,
        fmt=fmt,
        to="stdout" if settings.log_to == "stdout" and not person else "files",
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env()
    except RevosError as exc:
        print(f"revos: {exc.message}", file=sys.stderr)
        return 2
    configure_logging(args, settings)
    try:
        handler: Handler = args.handler
        return handler(args, settings)
    except RevosError as exc:
        print(f"revos: {exc.message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
