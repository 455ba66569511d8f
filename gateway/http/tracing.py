"""A server span for every HTTP request (added only when tracing is on: infra/tracing.py).

A caller's W3C `traceparent` is continued; the span is named by the matched route, never the raw path
(which holds ids), and the request id the gateway answers with is one of its attributes.
"""

from __future__ import annotations

from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from infra.tracing import tracer

_PROPAGATOR = TraceContextTextMapPropagator()


class TraceRequests:
    """Wraps each HTTP request in a span; websockets are traced per chat turn instead."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.tracer = tracer("revos.gateway")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        carrier = {
            name.decode("latin-1"): value.decode("latin-1")
            for name, value in scope["headers"]
            if name in (b"traceparent", b"tracestate")
        }
        method = scope["method"]
        with self.tracer.start_as_current_span(
            method,
            context=_PROPAGATOR.extract(carrier) if carrier else None,
            kind=SpanKind.SERVER,
            attributes={"http.request.method": method},
        ) as span:
            status = 500

            async def sending(message: Message) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = message["status"]
                    for name, value in message.get("headers", ()):
                        if name.lower() == b"x-request-id":
                            span.set_attribute("revos.request_id", value.decode("latin-1"))
                await send(message)

            try:
                await self.app(scope, receive, sending)
            finally:
                route = getattr(scope.get("route"), "path", None)
                if route:
                    span.update_name(f"{method} {route}")
                    span.set_attribute("http.route", route)
                span.set_attribute("http.response.status_code", status)
                if status >= 500:
                    span.set_status(Status(StatusCode.ERROR))
