"""`revos logs`: every process's log lines of a home, merged in time order, filtered, and shown."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TextIO

import orjson

from infra.home import Home
from infra.logs.reader import Entry, Filter, Follower, level_name, merged, parse_since
from pipeline.settings import Settings

FOLLOW_POLL_SECONDS = 0.25
# Fields every line has, shown in its head rather than after the message.
_SHOWN = frozenset({"level", "logger", "message", "exc", "stack"})
_COLOURS = {"debug": "\033[2m", "warning": "\033[33m", "error": "\033[31m", "critical": "\033[1;31m"}
_RESET = "\033[0m"


def add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    logs = subparsers.add_parser(
        "logs", help="every process's log lines of REVOS_HOME, merged in time order and filtered"
    )
    logs.add_argument("-f", "--follow", action="store_true", help="keep printing lines as they are written")
    logs.add_argument(
        "-p",
        "--process",
        action="append",
        default=[],
        metavar="P",
        help="only this process (gateway, worker-0, worker for every worker, relay, launcher, broker, postgres); repeatable",
    )
    logs.add_argument(
        "-l",
        "--level",
        type=level_name,
        metavar="L",
        help="only this level and above (debug, info, warning, error)",
    )
    logs.add_argument(
        "-r", "--request-id", metavar="R", help="only the lines about this request (its X-Request-Id)"
    )
    logs.add_argument(
        "--since",
        metavar="T",
        help="only lines from this time (2025-01-31T12:00:00Z) or this long ago (15m, 2h, 1d)",
    )
    logs.add_argument(
        "--json", action="store_true", help="one JSON object per line instead of the terminal format"
    )
    logs.set_defaults(handler=_logs)


def _logs(args: argparse.Namespace, settings: Settings) -> int:
    try:
        since = parse_since(args.since, datetime.now(UTC)) if args.since else None
    except ValueError as exc:
        print(f"revos: {exc}", file=sys.stderr)
        return 2
    keep = Filter(tuple(args.process), args.level, args.request_id, since)
    logs_dir = Home(settings.home).logs
    out = sys.stdout
    colour = not args.json and out.isatty()
    try:
        follower = Follower(logs_dir)
        follower.skip_to_end()  # before reading, so no line written meanwhile is lost to --follow
        show(merged(list(follower.offsets), keep, follower.offsets), out, as_json=args.json, colour=colour)
        while args.follow:
            time.sleep(FOLLOW_POLL_SECONDS)
            show((e for e in follower.new_entries() if keep.keeps(e)), out, as_json=args.json, colour=colour)
    except KeyboardInterrupt:
        return 0
    except BrokenPipeError:  # `revos logs | head`
        sys.stderr.close()
        return 0
    return 0


def show(entries: Iterable[Entry], out: TextIO, *, as_json: bool = False, colour: bool = False) -> None:
    for entry in entries:
        out.write(
            (orjson.dumps(entry.as_json(), default=str).decode() if as_json else pretty(entry, colour=colour))
            + "\n"
        )
    out.flush()


def pretty(entry: Entry, *, colour: bool = False) -> str:
    """`12:00:00.123 worker-0 INFO agents.runner: message key=value ...` and an exception below it."""
    f = entry.fields
    stamp = entry.time.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    if "logger" not in f and "level" not in f:  # a text line as written
        return f"{stamp} {entry.process:<9} {f.get('message', '')}"
    level = (entry.level or "info").upper()
    extras = " ".join(f"{k}={_short(v)}" for k, v in f.items() if k not in _SHOWN)
    line = f"{stamp} {entry.process:<9} {level:<7} {f.get('logger', '')}: {f.get('message', '')}"
    if extras:
        line += f"  {extras}"
    if f.get("exc"):
        line += "\n" + str(f["exc"])
    if colour and entry.level in _COLOURS:
        line = _COLOURS[entry.level] + line + _RESET
    return line


def _short(value: object) -> str:
    return value if isinstance(value, str) else orjson.dumps(value, default=str).decode()
