"""OpenTelemetry tracing: set up per process, off unless asked for, and the trace context in record headers.

Tracing is on when the standard `OTEL_EXPORTER_OTLP_ENDPOINT` or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` is
set (spans go over OTLP/HTTP) or `REVOS_TRACE_FILE` names a file (finished spans appended as JSON lines, for
tests and a quick look). Off, nothing is wrapped, no middleware is added and `enabled()` is False, so the
hot paths pay one boolean test.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import replace
from pathlib import Path
from typing import Any

import orjson
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Link, Span, SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from pipeline.publishing import Delivered, Outgoing, Publisher
from pipeline.settings import Settings

TRACEPARENT = "traceparent"
TRACESTATE = "tracestate"
_PROPAGATOR = TraceContextTextMapPropagator()
_enabled = False


def enabled() -> bool:
    """Whether this process records spans."""
    return _enabled


def tracer(name: str) -> trace.Tracer:
    return trace.get_tracer(name)


def maybe_span(name: str, attributes: dict[str, Any] | None = None) -> AbstractContextManager[Span | None]:
    """A child span of the current one when tracing is on; nothing (None) when it is off."""
    if not _enabled:
        return nullcontext()
    return tracer("revos").start_as_current_span(name, attributes=attributes)


def setup(settings: Settings, service: str) -> bool:
    """Install a tracer provider for this process (`service` is its service.name) if tracing is asked for."""
    global _enabled
    if not (settings.otlp_traces or settings.trace_file):
        return False
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: service}))
    if settings.otlp_traces:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))  # reads OTEL_EXPORTER_OTLP_*
    if settings.trace_file:
        provider.add_span_processor(
            BatchSpanProcessor(JsonLinesExporter(settings.trace_file), schedule_delay_millis=200)
        )
    trace.set_tracer_provider(provider)
    _enabled = True
    return True


class JsonLinesExporter:
    """A SpanExporter that appends finished spans to a file, one JSON object a line (one write a batch,
    O_APPEND, so several processes can share the file)."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._lock = threading.Lock()

    def export(self, spans: Sequence[Any]) -> Any:
        from opentelemetry.sdk.trace.export import SpanExportResult

        data = b"".join(orjson.dumps(span_dict(s)) + b"\n" for s in spans)
        with self._lock:
            fd = os.open(self._path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, data)
            finally:
                os.close(fd)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


def span_dict(span: Any) -> dict[str, Any]:
    """A finished span as plain data: ids in hex, as W3C trace context writes them."""
    ctx = span.context
    parent = span.parent
    return {
        "service": span.resource.attributes.get("service.name"),
        "name": span.name,
        "kind": span.kind.name,
        "trace_id": f"{ctx.trace_id:032x}",
        "span_id": f"{ctx.span_id:016x}",
        "parent_id": None if parent is None else f"{parent.span_id:016x}",
        "links": [
            {"trace_id": f"{link.context.trace_id:032x}", "span_id": f"{link.context.span_id:016x}"}
            for link in span.links
        ],
        "attributes": dict(span.attributes or {}),
        "status": span.status.status_code.name,
        "start": span.start_time,
        "end": span.end_time,
    }


def context_headers() -> tuple[tuple[str, bytes], ...]:
    """The current span's context as record headers (empty outside a recording span)."""
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    return tuple((k, v.encode()) for k, v in carrier.items())


def context_of(headers: Iterable[tuple[str, bytes]]) -> Context | None:
    """The trace context a record carries in its headers, if any."""
    carrier = {k: v.decode(errors="replace") for k, v in headers if k in (TRACEPARENT, TRACESTATE)}
    if TRACEPARENT not in carrier:
        return None
    ctx = _PROPAGATOR.extract(carrier)
    return ctx if trace.get_current_span(ctx).get_span_context().is_valid else None


@contextmanager
def span_over(
    name: str, contexts: Iterable[Context | None], *, attributes: dict[str, Any] | None = None
) -> Iterator[Span]:
    """A span parented on the first of `contexts` and linked to the others (one batch, many requests)."""
    found = [c for c in contexts if c is not None]
    parent = found[0] if found else None
    seen: set[int] = set()
    links = []
    for c in found[1:]:
        sc = trace.get_current_span(c).get_span_context()
        if sc.span_id not in seen:
            seen.add(sc.span_id)
            links.append(Link(sc))
    with tracer("revos.worker").start_as_current_span(
        name, context=parent, links=links, kind=SpanKind.CONSUMER, attributes=attributes
    ) as span:
        yield span


class TracedPublisher:
    """A Publisher that adds the current trace context to every record it sends (unless it has one)."""

    def __init__(self, inner: Publisher) -> None:
        self._inner = inner

    async def publish(self, records: Sequence[Outgoing]) -> list[Delivered]:
        headers = context_headers()
        if headers:
            records = [
                r
                if any(k == TRACEPARENT for k, _ in r.headers)
                else replace(r, headers=(*r.headers, *headers))
                for r in records
            ]
        return await self._inner.publish(records)

    async def partitions(self, topic: str) -> list[int]:
        return await self._inner.partitions(topic)
