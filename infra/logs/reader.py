"""Reading a home's logs back: every process's file, merged in time order, filtered (`revos logs`).

A JSON line is read as the fields it holds. Any other line (a library's or a service's own output, a
traceback printed outside logging, a process started with REVOS_LOG_FORMAT=text) is passed through with
its file's process name and the time it starts with, or else the time of the line before it.
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

LEVELS = {"debug": 10, "info": 20, "warning": 30, "error": 40, "critical": 50}
_ALIASES = {"warn": "warning", "fatal": "critical", "exception": "error"}
_EPOCH = datetime.fromtimestamp(0, UTC)
# Today's text format: "2025-01-31 12:00:00,123 INFO name: message" (local time).
_TEXT = re.compile(r"^(\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(?:[.,]\d+)?)(?:\s+(\w+))?")
# The launcher's banner before each start of a child: "--- 2025-01-31T12:00:00+00:00 starting gateway: ...".
_BANNER = re.compile(r"^--- (\S+) ")


@dataclass(frozen=True, slots=True)
class Entry:
    """One log line: its time, process, level (None: unknown) and fields (a text line: only message)."""

    time: datetime
    process: str
    level: str | None
    fields: dict[str, Any] = field(compare=False)
    order: int = 0  # its place in its file, to keep a file's lines in order at equal times

    def as_json(self) -> dict[str, Any]:
        out = {"time": _rfc3339(self.time), "process": self.process, **self.fields}
        if self.level is not None:
            out.setdefault("level", self.level)
        return out


@dataclass(frozen=True, slots=True)
class Filter:
    processes: tuple[str, ...] = ()
    level: str | None = None
    request_id: str | None = None
    since: datetime | None = None

    def keeps(self, entry: Entry) -> bool:
        if self.processes and not any(_process_matches(entry.process, p) for p in self.processes):
            return False
        if self.since is not None and entry.time < self.since:
            return False
        if self.level is not None and LEVELS.get(entry.level or "info", 20) < LEVELS[self.level]:
            return False
        if self.request_id is not None:
            f = entry.fields
            if "level" in f or "logger" in f:  # a structured line: its own fields say
                return f.get("request_id") == self.request_id or self.request_id in (
                    f.get("request_ids") or ()
                )
            return self.request_id in str(f.get("message", ""))
        return True


def _process_matches(process: str, wanted: str) -> bool:
    # `--process worker` matches worker-0, worker-1, ...
    return process == wanted or process.startswith(wanted + "-")


def level_name(raw: str) -> str:
    name = raw.strip().lower()
    name = _ALIASES.get(name, name)
    if name not in LEVELS:
        raise ValueError(f"unknown level {raw!r}; one of {', '.join(LEVELS)}")
    return name


def parse_since(raw: str, now: datetime) -> datetime:
    """An RFC 3339 time (UTC unless it says), or a duration back from now: 90s, 15m, 2h, 1d."""
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([smhd])", raw.strip())
    if m:
        unit = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}[m.group(2)]
        return now - timedelta(**{unit: float(m.group(1))})
    try:
        t = datetime.fromisoformat(raw.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise ValueError(
            f"--since takes a time (2025-01-31T12:00:00Z) or a duration (15m), not {raw!r}"
        ) from exc
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def _rfc3339(t: datetime) -> str:
    return t.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _time(raw: object) -> datetime | None:
    if not isinstance(raw, str):
        return None
    try:
        t = datetime.fromisoformat(raw.replace("Z", "+00:00").replace(",", "."))
    except ValueError:
        return None
    return t if t.tzinfo else t.astimezone()  # a naive time is the machine's local time (asctime)


def parse_line(line: str, process: str, previous: datetime, order: int = 0) -> Entry:
    """One line of `process`'s log; `previous` is the time of the line before it in the same file."""
    text = line.rstrip("\r\n")
    if text.startswith("{"):
        try:
            fields = orjson.loads(text)
        except orjson.JSONDecodeError:
            fields = None
        if isinstance(fields, dict) and (t := _time(fields.get("time"))) is not None:
            # A file holds one process's lines: its name is the file's (worker-0.log: worker-0).
            fields = {k: v for k, v in fields.items() if k not in ("time", "process")}
            level = fields.get("level")
            return Entry(t, process, level if isinstance(level, str) else None, fields, order)
    t = previous
    level: str | None = None
    if (m := _TEXT.match(text)) is not None:
        t = _time(m.group(1)) or previous
        if m.group(2) and m.group(2).lower() in LEVELS | _ALIASES:
            level = level_name(m.group(2))
    elif (m := _BANNER.match(text)) is not None:
        t = _time(m.group(1)) or previous
    return Entry(t, process, level, {"message": text}, order)


def read_file(path: Path, *, end: int | None = None) -> Iterator[Entry]:
    """The entries of one log file up to byte `end` (default: all of it), in file order."""
    process = path.stem
    previous = _EPOCH
    with open(path, "rb") as f:
        lines = f if end is None else iter(f.read(end).splitlines(keepends=True))
        for order, raw in enumerate(lines):
            entry = parse_line(raw.decode("utf-8", "replace"), process, previous, order)
            previous = entry.time
            yield entry


def log_files(logs: Path) -> list[Path]:
    return sorted(p for p in logs.glob("*.log") if p.is_file())


def merged(files: Iterable[Path], keep: Filter, ends: dict[Path, int] | None = None) -> Iterator[Entry]:
    """Every file's entries that `keep` keeps (up to its byte in `ends`, if there), merged in time order
    (a file's own order at ties)."""
    ends = ends or {}
    streams = [(e for e in read_file(p, end=ends.get(p)) if keep.keeps(e)) for p in files]
    return heapq.merge(*streams, key=lambda e: (e.time, e.order))


@dataclass
class Follower:
    """New lines appended to a home's log files since the last look (files that appear included)."""

    logs: Path
    offsets: dict[Path, int] = field(default_factory=dict)
    times: dict[Path, datetime] = field(default_factory=dict)

    def skip_to_end(self) -> None:
        for path in log_files(self.logs):
            self.offsets[path] = path.stat().st_size

    def new_entries(self) -> list[Entry]:
        out: list[Entry] = []
        for path in log_files(self.logs):
            start = self.offsets.get(path, 0)
            size = path.stat().st_size
            if size < start:  # truncated or replaced: read it again from the start
                start = 0
            if size == start:
                continue
            with open(path, "rb") as f:
                f.seek(start)
                data = f.read(size - start)
            complete = data.rfind(b"\n") + 1  # a line still being written waits for its end
            self.offsets[path] = start + complete
            previous = self.times.get(path, _EPOCH)
            for raw in data[:complete].splitlines():
                entry = parse_line(raw.decode("utf-8", "replace"), path.stem, previous)
                previous = entry.time
                out.append(entry)
            self.times[path] = previous
        out.sort(key=lambda e: e.time)
        return out
