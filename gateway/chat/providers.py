"""Model providers: a streamed chat completion from an OpenAI-compatible API, or the offline demo.

A provider yields `Delta`s as text arrives, then exactly one `Completed`, or raises `ProviderError`.
A caller that stops early (the visitor left) should close the stream (`contextlib.aclosing`) so the
HTTP response is released at once.
Fallback to the next model happens only before the first token: once a visitor may have seen part of one
model's answer, splicing another model's answer onto it would be worse than admitting the failure.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx
import orjson

from pipeline.chat.backoff import Backoff, parse_retry_after
from pipeline.chat.completions import (
    StreamFailure,
    StreamState,
    apply_chunk,
    describe_error_body,
    estimate_input_tokens,
    estimate_tokens,
    parse_chunk,
)
from pipeline.chat.offline import count_words, offline_reply, words
from pipeline.chat.sse import SSEDecoder
from pipeline.errors import RevosError
from pipeline.settings import Settings

_JITTER = random.Random()  # our own: never the process's global `random` state

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ChatRequest:
    """One model call: `models` is the primary model first, then the fallbacks in order."""

    models: tuple[str, ...]
    messages: list[dict[str, Any]]  # OpenAI chat format
    temperature: float | None = None
    tools: list[dict[str, Any]] = field(default_factory=list)  # OpenAI "function" tool specs


@dataclass(frozen=True, slots=True)
class Usage:
    """Tokens of one model call; `estimated` when the provider reported none and we counted ourselves."""

    input_tokens: int
    output_tokens: int
    estimated: bool = False


@dataclass(frozen=True, slots=True)
class Delta:
    """A piece of streamed text."""

    text: str


@dataclass(frozen=True, slots=True)
class Completed:
    """The end of one model call; `model` is the model that answered, as it was requested."""

    model: str
    text: str
    tool_calls: list[dict[str, Any]]  # OpenAI format: id, type "function", function {name, arguments}
    usage: Usage


class ProviderError(RevosError):
    """Every model failed (`streamed` False), or one failed after its first token (`streamed` True)."""

    code = "models_unavailable"

    def __init__(
        self, message: str, *, code: str | None = None, streamed: bool = False, failures: tuple[str, ...] = ()
    ) -> None:
        super().__init__(message, code=code)
        self.streamed = streamed
        self.failures = failures


class Provider(Protocol):
    def stream(self, request: ChatRequest) -> AsyncGenerator[Delta | Completed, None]: ...

    @property
    def label(self) -> str: ...


class _Retry(Exception):
    """This attempt failed in a way the same model may not repeat: try it again after a pause."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


class _NextModel(Exception):
    """This model cannot answer this request: go on to the next one."""


_RETRYABLE_STATUSES = frozenset({408, 429})  # and every 5xx
DEFAULT_BACKOFF = Backoff(base=0.5, cap=8.0)
DEFAULT_TIMEOUT = httpx.Timeout(60.0, connect=10.0)  # read: the longest silence between two chunks


@dataclass(slots=True)
class _Waited:
    """Seconds spent sleeping between attempts, over every model of one request."""

    seconds: float = 0.0


class OpenAICompatibleProvider:
    """`POST {base_url}/chat/completions` with streaming, retries per model and fallbacks across models."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        client: httpx.AsyncClient,
        max_attempts: int = 4,
        backoff: Backoff = DEFAULT_BACKOFF,
        max_wait_seconds: float = 20.0,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        owns_client: bool = False,
        rand: Callable[[], float] = _JITTER.random,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._url = base_url.rstrip("/") + "/chat/completions"
        self._headers = {
            "Authorization": f"Bearer {api_key}",
            "Content-Type": "application/json",
            "Accept": "text/event-stream",
        }
        self._client = client
        self._max_attempts = max(1, max_attempts)
        self._backoff = backoff
        # Waiting is capped over all models: a visitor is watching.
        self._max_wait = max_wait_seconds
        self._timeout = timeout
        self._owns_client = owns_client
        self._rand = rand
        self._sleep = sleep
        self._label = urlsplit(base_url).hostname or "openai-compatible"

    @property
    def label(self) -> str:
        """The provider's host, e.g. "openrouter.ai"."""
        return self._label

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()

    async def stream(self, request: ChatRequest) -> AsyncGenerator[Delta | Completed, None]:
        failures: list[str] = []
        waited = _Waited()
        for model in request.models:
            try:
                async with aclosing(self._stream_model(model, request, waited)) as items:
                    async for item in items:
                        yield item
                return
            except _NextModel as exc:
                log.warning("model %s failed before its first token: %s", model, exc)
                failures.append(f"{model}: {exc}")
        raise ProviderError(
            "every model failed: " + ("; ".join(failures) or "no model configured"), failures=tuple(failures)
        )

    async def _stream_model(
        self, model: str, request: ChatRequest, waited: _Waited
    ) -> AsyncGenerator[Delta | Completed, None]:
        body = orjson.dumps(_payload(model, request))
        for attempt in range(1, self._max_attempts + 1):
            try:
                async with aclosing(self._attempt(model, request, body)) as items:
                    async for item in items:
                        yield item
                return
            except _Retry as exc:
                if attempt == self._max_attempts:
                    raise _NextModel(f"{exc} (after {attempt} attempts)") from exc
                delay = self._backoff.delay(attempt, exc.retry_after, self._rand)
                if waited.seconds + delay > self._max_wait:
                    raise _NextModel(f"{exc} (waiting {delay:.1f}s more would exceed the budget)") from exc
                log.info("model %s attempt %d failed (%s); retrying in %.2fs", model, attempt, exc, delay)
                await self._sleep(delay)
                waited.seconds += delay
        raise AssertionError("unreachable")  # pragma: no cover

    async def _attempt(
        self, model: str, request: ChatRequest, body: bytes
    ) -> AsyncGenerator[Delta | Completed, None]:
        state = StreamState()
        done = False
        try:
            async with self._client.stream(
                "POST", self._url, content=body, headers=self._headers, timeout=self._timeout
            ) as response:
                await _refuse_unless_stream(response)
                decoder = SSEDecoder()
                async for line in response.aiter_lines():
                    event = decoder.feed(line)
                    if event is None:
                        continue
                    if event.data.strip() == "[DONE]":
                        done = True
                        break
                    state, piece = apply_chunk(state, parse_chunk(event.data))
                    if piece:
                        yield Delta(piece)
                else:
                    last = decoder.flush()
                    if last is not None and last.data.strip() == "[DONE]":
                        done = True
                    elif last is not None:
                        state, piece = apply_chunk(state, parse_chunk(last.data))
                        if piece:
                            yield Delta(piece)
        except StreamFailure as exc:
            if state.started:
                raise ProviderError(f"{model}: {exc}", code="stream_interrupted", streamed=True) from exc
            raise _NextModel(f"error in stream: {exc}") from exc
        except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
            raise _NextModel(f"bad provider URL: {exc}") from exc
        except httpx.RequestError as exc:
            if state.started:
                raise ProviderError(
                    f"{model}: connection lost mid-reply: {_describe(exc)}",
                    code="stream_interrupted",
                    streamed=True,
                ) from exc
            raise _Retry(_describe(exc)) from exc
        if not done and state.finish_reason is None:
            if state.started:
                raise ProviderError(
                    f"{model}: the stream ended before the reply was complete",
                    code="stream_interrupted",
                    streamed=True,
                )
            raise _Retry("the stream ended before any token")
        yield Completed(
            model=model, text=state.text, tool_calls=state.finished_tool_calls(), usage=_usage(state, request)
        )


class OfflineProvider:
    """A deterministic stand-in model: labelled replies streamed word by word, and `!tool` tool calls."""

    def __init__(self, *, delay_seconds: float = 0.03) -> None:
        self._delay = delay_seconds

    @property
    def label(self) -> str:
        return "offline"

    async def aclose(self) -> None:
        return None

    async def stream(self, request: ChatRequest) -> AsyncGenerator[Delta | Completed, None]:
        if not request.models:
            raise ProviderError("every model failed: no model configured")
        names = [str(spec.get("function", {}).get("name", "")) for spec in request.tools]
        reply = offline_reply(request.messages, names)
        for piece in words(reply.text):
            await asyncio.sleep(self._delay)
            yield Delta(piece)
        usage = Usage(input_tokens=count_words(request.messages), output_tokens=reply.output_words)
        calls = [] if reply.tool_call is None else [reply.tool_call]
        yield Completed(model=request.models[0], text=reply.text, tool_calls=calls, usage=usage)


def provider_from_settings(
    settings: Settings, *, client: httpx.AsyncClient | None = None
) -> OpenAICompatibleProvider | OfflineProvider:
    """The OpenAI-compatible provider when REVOS_MODEL_API_KEY is set, else the offline demo.

    Without `client`, the provider makes its own and closes it in `aclose()`.
    """
    if not settings.model_api_key:
        return OfflineProvider(delay_seconds=settings.offline_delay_ms / 1000)
    owns = client is None
    return OpenAICompatibleProvider(
        settings.model_base_url,
        settings.model_api_key,
        client=client or httpx.AsyncClient(),
        owns_client=owns,
    )


def _payload(model: str, request: ChatRequest) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "model": model,
        "messages": request.messages,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    if request.temperature is not None:
        payload["temperature"] = request.temperature
    if request.tools:
        payload["tools"] = request.tools
    return payload


async def _refuse_unless_stream(response: httpx.Response) -> None:
    """Raise _Retry or _NextModel unless `response` is a successful event stream."""
    json_answer = response.headers.get("content-type", "").startswith("application/json")
    if response.is_success and not json_answer:
        return
    body = await response.aread()
    if response.is_success:
        # Some providers answer a refused streaming request with a JSON error and status 200.
        raise _NextModel(f"expected an event stream, got: {describe_error_body(body)}")
    reason = f"HTTP {response.status_code}: {describe_error_body(body)}"
    if response.status_code in _RETRYABLE_STATUSES or response.status_code >= 500:
        retry_after = parse_retry_after(response.headers.get("retry-after"), now=time.time())
        raise _Retry(reason, retry_after)
    raise _NextModel(reason)


def _usage(state: StreamState, request: ChatRequest) -> Usage:
    if state.input_tokens is not None and state.output_tokens is not None:
        return Usage(state.input_tokens, state.output_tokens)
    arguments = "".join(call["function"]["arguments"] for call in state.finished_tool_calls())
    return Usage(
        input_tokens=state.input_tokens
        if state.input_tokens is not None
        else estimate_input_tokens(request.messages),
        output_tokens=state.output_tokens
        if state.output_tokens is not None
        else estimate_tokens(state.text + arguments),
        estimated=True,
    )


def _describe(exc: httpx.RequestError) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
