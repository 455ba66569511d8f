"""What a model call leaves behind besides its reply: the chat metrics and its span's attributes."""

from __future__ import annotations

from typing import TYPE_CHECKING

from opentelemetry.trace import Span, Status, StatusCode

from gateway.chat import metrics as chat_metrics
from gateway.chat.providers import ChatRequest

if TYPE_CHECKING:
    from gateway.chat.turns import Outcome


def count_call(request: ChatRequest, outcome: Outcome) -> None:
    if outcome.first_token_ms is not None:
        chat_metrics.FIRST_TOKEN.observe(outcome.first_token_ms / 1000)
    if outcome.completed is None:
        chat_metrics.TURN_ERRORS.labels("interrupted" if outcome.interrupted else "model_failed").inc()
    elif outcome.completed.model != request.models[0]:
        chat_metrics.FALLBACKS.inc()


def describe_call(span: Span, request: ChatRequest, outcome: Outcome) -> None:
    """What a model call span tells: the model that answered, whether a fallback did, its timing and tokens."""
    done = outcome.completed
    span.set_attribute("revos.model.interrupted", outcome.interrupted)
    if outcome.first_token_ms is not None:
        span.set_attribute("revos.model.first_token_ms", outcome.first_token_ms)
    if done is None:
        if not outcome.interrupted:
            span.set_status(Status(StatusCode.ERROR, "the model failed"))
        return
    span.set_attribute("gen_ai.response.model", done.model)
    span.set_attribute("revos.model.fallback_used", done.model != request.models[0])
    span.set_attribute("gen_ai.usage.input_tokens", done.usage.input_tokens)
    span.set_attribute("gen_ai.usage.output_tokens", done.usage.output_tokens)
    if outcome.latency_ms is not None:
        span.set_attribute("revos.model.latency_ms", outcome.latency_ms)


def describe_tool_call(span: Span, ok: bool) -> None:
    span.set_attribute("revos.tool.ok", ok)
    if not ok:
        span.set_status(Status(StatusCode.ERROR))
