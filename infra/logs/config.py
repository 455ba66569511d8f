"""One call configures a process's logging: where lines go, in which format, always redacted.

`REVOS_LOG_FORMAT` is `json` (the default) or `text`; `REVOS_LOG_TO` is `files` (the default: a
process writes to stderr, which the launcher appends to `REVOS_HOME/logs/<process>.log`) or `stdout`
(container platforms collect it). A process run in a terminal on its own writes text unless told.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import TextIO

from infra.logs.format import JsonFormatter, TextFormatter
from infra.logs.redaction import RedactSecrets

FORMATS = ("json", "text")
DESTINATIONS = ("files", "stdout")


def formatter(fmt: str, process: str) -> logging.Formatter:
    return TextFormatter() if fmt == "text" else JsonFormatter(process)


def handler(stream: TextIO, fmt: str, process: str) -> logging.Handler:
    """A stream handler in `fmt` that redacts every record it writes."""
    out = logging.StreamHandler(stream)
    out.setFormatter(formatter(fmt, process))
    out.addFilter(RedactSecrets())
    return out


def file_handler(path: Path, fmt: str, process: str) -> logging.Handler:
    path.parent.mkdir(parents=True, exist_ok=True)
    out = logging.FileHandler(path, encoding="utf-8")
    out.setFormatter(formatter(fmt, process))
    out.addFilter(RedactSecrets())
    return out


def configure(
    process: str, *, level: str = "info", fmt: str = "json", to: str = "files", stream: TextIO | None = None
) -> None:
    """Replace the root logger's handlers with one that writes `process`'s lines in `fmt`."""
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    default = sys.stdout if to == "stdout" else sys.stderr
    root.addHandler(handler(stream or default, fmt, process))
    root.setLevel(level.upper())


def redact_every_handler() -> None:
    """Add the redacting filter to every handler of every logger that lacks one (libraries that
    configure their own logging, such as the stream worker's, add handlers after `configure`)."""
    loggers = [logging.getLogger(), *(logging.getLogger(n) for n in list(logging.root.manager.loggerDict))]
    for logger in loggers:
        for h in getattr(logger, "handlers", []):
            if not any(isinstance(f, RedactSecrets) for f in h.filters):
                h.addFilter(RedactSecrets())
