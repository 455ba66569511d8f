"""A JSON log line holds time, level, process, logger, message, and the request and tenant in hand."""

from __future__ import annotations

import asyncio
import io
import logging
import re

import orjson

from infra.logs.config import handler
from pipeline import log_context
from pipeline.publishing import Delivered, Outgoing


def _write(fmt: str, record: logging.LogRecord) -> str:
    stream = io.StringIO()
    handler(stream, fmt, "worker-0").handle(record)
    return stream.getvalue()


def test_a_json_line_has_the_fields_and_the_context() -> None:
    record = logging.LogRecord("agents.runner", logging.INFO, __file__, 1, "applied %d", (3,), None)
    with log_context.bound(request_id="req_1", tenant_id="ten_1"):
        line = orjson.loads(_write("json", record))
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", line["time"])
    assert line | {"time": None} == {
        "time": None,
        "level": "info",
        "process": "worker-0",
        "logger": "agents.runner",
        "message": "applied 3",
        "request_id": "req_1",
        "tenant_id": "ten_1",
    }


def test_outside_a_request_no_request_id_and_no_trace_id_without_a_tracer() -> None:
    line = orjson.loads(_write("json", logging.LogRecord("x", logging.ERROR, __file__, 1, "m", None, None)))
    assert "request_id" not in line and "tenant_id" not in line and "trace_id" not in line
    assert line["level"] == "error"


def test_text_is_todays_format_with_the_request_id() -> None:
    record = logging.LogRecord("gateway.app", logging.WARNING, __file__, 1, "slow", None, None)
    with log_context.bound(request_id="req_9"):
        text = _write("text", record)
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} WARNING gateway.app: slow \[req_9\]\n", text)


def test_bound_restores_what_was_bound_before() -> None:
    with log_context.bound(request_id="outer"):
        with log_context.bound(request_id="inner", tenant_id="t"):
            assert log_context.current() == {"request_id": "inner", "tenant_id": "t"}
        assert log_context.current() == {"request_id": "outer"}
    assert log_context.current() == {}


class _Recording:
    def __init__(self) -> None:
        self.sent: list[Outgoing] = []

    async def publish(self, records: list[Outgoing]) -> list[Delivered]:
        self.sent.extend(records)
        return [Delivered(r.topic, 0, i) for i, r in enumerate(records)]

    async def partitions(self, topic: str) -> list[int]:
        return [0]


def test_records_published_in_a_request_carry_its_id_in_their_headers() -> None:
    inner = _Recording()
    tagging = log_context.RequestTagging(inner)

    async def go() -> None:
        await tagging.publish([Outgoing("t", b"v")])  # outside a request: untouched
        with log_context.bound(request_id="req_7"):
            await tagging.publish([Outgoing("t", b"v", headers=(("a", b"1"),))])

    asyncio.run(go())
    assert [r.headers for r in inner.sent] == [(), (("a", b"1"), ("revos-request-id", b"req_7"))]
    assert log_context.request_id_of(inner.sent[1].headers) == "req_7"
