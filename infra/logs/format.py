"""How a log line is written: one JSON object per line (the default), or text for a person.

A JSON line holds `time` (RFC 3339, UTC, milliseconds), `level`, `process`, `logger`, `message`, and
when known `tenant_id`, `request_id`, `trace_id` and `span_id`, `exc` (an exception's traceback) and a
record's structured fields (`client_error`).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import orjson

from infra.logs.redaction import redact
from pipeline import log_context

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# A record's own fields that are not structured extras.
_STANDARD = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName", "color_message"}

try:  # the tracing API: without an SDK configured, the current span is invalid and no id is logged
    from opentelemetry import trace as _trace
except ImportError:  # pragma: no cover - a declared dependency
    _trace = None  # type: ignore[assignment]


def rfc3339(created: float) -> str:
    """A record's time as `2025-01-31T12:00:00.123Z`."""
    return datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def trace_fields() -> dict[str, str]:
    """The current span's trace and span ids (hex), when a tracer made one."""
    if _trace is None:
        return {}
    context = _trace.get_current_span().get_span_context()
    if not context.is_valid:
        return {}
    return {"trace_id": format(context.trace_id, "032x"), "span_id": format(context.span_id, "016x")}


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line."""

    def __init__(self, process: str) -> None:
        super().__init__()
        self.process = process

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": rfc3339(record.created),
            "level": record.levelname.lower(),
            "process": self.process,
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update(log_context.current())
        line.update(trace_fields())
        for name, value in vars(record).items():
            if name not in _STANDARD and not name.startswith("_"):
                line.setdefault(name, value)
        if record.exc_info:
            line["exc"] = redact(self.formatException(record.exc_info))
        elif record.exc_text:
            line["exc"] = redact(record.exc_text)
        if record.stack_info:
            line["stack"] = redact(record.stack_info)
        return orjson.dumps(line, default=str).decode()


class TextFormatter(logging.Formatter):
    """Today's human format, with the request id (when known) after the message."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        known = log_context.current()
        if "request_id" in known:
            first, _, rest = text.partition("\n")
            text = f"{first} [{known['request_id']}]" + (f"\n{rest}" if rest else "")
        return redact(text) if record.exc_info or record.exc_text else text
