"""The trace context in record headers, a batch span parented on its first record and linked to the
others, and the worker's error window."""

from __future__ import annotations

from collections.abc import Sequence

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from agents.metrics import ErrorWindow
from infra import tracing
from pipeline.publishing import Delivered, Outgoing

EXPORTER = InMemorySpanExporter()
PROVIDER = TracerProvider()
PROVIDER.add_span_processor(SimpleSpanProcessor(EXPORTER))


class Kept:
    def __init__(self) -> None:
        self.sent: list[Outgoing] = []

    async def publish(self, records: Sequence[Outgoing]) -> list[Delivered]:
        self.sent.extend(records)
        return []

    async def partitions(self, topic: str) -> list[int]:
        return [0]


async def test_records_carry_the_current_context_and_a_batch_span_joins_it() -> None:
    tracer = PROVIDER.get_tracer("test")
    kept = Kept()
    publisher = tracing.TracedPublisher(kept)
    contexts = []
    for name in ("first", "second"):
        with tracer.start_as_current_span(name) as span:
            await publisher.publish([Outgoing("revos.billing", b"v")])
            contexts.append(span.get_span_context())
    await publisher.publish([Outgoing("revos.billing", b"untraced")])
    assert [dict(r.headers).get("traceparent") is not None for r in kept.sent] == [True, True, False]
    found = [tracing.context_of(r.headers) for r in kept.sent]
    assert found[2] is None
    assert tracing.context_of([("traceparent", b"garbage")]) is None

    trace.set_tracer_provider(PROVIDER)  # once per process: the batch span uses the global provider
    with tracing.span_over("apply billing", found):
        pass
    batch = next(s for s in EXPORTER.get_finished_spans() if s.name == "apply billing")
    assert batch.parent is not None and batch.parent.span_id == contexts[0].span_id
    assert batch.context.trace_id == contexts[0].trace_id
    assert [link.context.span_id for link in batch.links] == [contexts[1].span_id]
    line = tracing.span_dict(batch)
    assert line["parent_id"] == f"{contexts[0].span_id:016x}" and len(line["links"]) == 1


def test_tracing_is_off_without_its_settings() -> None:
    assert not tracing.enabled()
    with tracing.maybe_span("anything") as span:
        assert span is None


def test_the_error_window_keeps_the_last_minutes() -> None:
    window = ErrorWindow()
    window.add(100, 0, now=0)
    window.add(0, 2, now=30)
    window.add(50, 1, now=10 * 60)
    assert window.totals(300, now=10 * 60) == (50, 1)
    assert window.totals(3600, now=10 * 60) == (150, 3)
    window.add(10, 0, now=61 * 60)
    assert window.totals(3600, now=61 * 60) == (60, 1)
