"""Calling a tenant's HTTP tool on behalf of a model, with a signed request; failures become results."""

from __future__ import annotations

import asyncio
import codecs
import logging
import time
import zlib
from dataclasses import dataclass, replace

import httpx
import orjson

from infra.http_guard import AddressRefused
from pipeline.assistants.tool_addresses import canonical_url
from pipeline.chat.tool_signing import new_delivery_id, sign
from pipeline.records import AssistantTool

log = logging.getLogger(__name__)

MAX_RESULT_BYTES = 64 * 1024
# The encodings asked for, and how zlib reads each: httpx would inflate a whole network read at once.
ACCEPT_ENCODING = "gzip, deflate"
_WBITS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}


@dataclass(frozen=True, slots=True)
class ToolResult:
    """What the model gets back: the tool's answer, or a JSON error text when `ok` is False."""

    ok: bool
    content: str


@dataclass(frozen=True, slots=True)
class ToolRequest:
    """The signed request as sent: every header httpx sent, and the body exactly as signed."""

    url: str
    headers: list[tuple[str, str]]
    body: bytes


@dataclass(frozen=True, slots=True)
class ToolAnswer:
    """The tool's answer: its body decoded and capped (None when it was not read)."""

    status: int
    headers: list[tuple[str, str]]
    body: str | None = None
    truncated: bool = False  # the body reached MAX_RESULT_BYTES; the rest was not read


@dataclass(frozen=True, slots=True)
class ToolExchange:
    """One call of a tool: the request (None when none could be made), the answer (None when none came),
    and why the call failed (None when it succeeded)."""

    request: ToolRequest | None
    answer: ToolAnswer | None
    error: str | None

    @property
    def result(self) -> ToolResult:
        if self.error is not None or self.answer is None or self.answer.body is None:
            return _failed(self.error or "the tool gave no answer")
        return ToolResult(ok=True, content=self.answer.body)


async def call_tool(
    tool: AssistantTool,
    arguments: str,
    *,
    client: httpx.AsyncClient,
    context: dict[str, object],
) -> ToolResult:
    """POST `{"tool", "arguments", "context"}` to the tool, signed; never raises for the tool's faults.

    A model that gets an error back can apologise or try otherwise, so every failure (bad arguments,
    timeout, refused connection, non-2xx) is a result, not an exception. `client` comes from
    `infra.http_guard.guarded_client`, which refuses a host that resolves to a private, loopback or
    link-local address: a tenant must not be able to make the gateway call into the network it runs in.
    """
    return (await exchange(tool, arguments, client=client, context=context)).result


async def exchange(
    tool: AssistantTool,
    arguments: str,
    *,
    client: httpx.AsyncClient,
    context: dict[str, object],
    read_failed: bool = False,
) -> ToolExchange:
    """The call `call_tool` makes, with what was sent and received; `read_failed` also reads the body of
    a non-2xx answer (a chat turn does not: the model is only told the status)."""
    try:
        parsed = orjson.loads(arguments) if arguments.strip() else {}
    except orjson.JSONDecodeError as exc:
        return ToolExchange(None, None, f"the arguments are not valid JSON: {exc}")
    if not isinstance(parsed, dict):
        return ToolExchange(None, None, "the arguments must be a JSON object")
    try:
        url = canonical_url(tool.url)
    except ValueError:
        return ToolExchange(None, None, "the tool's host is not a valid host name")
    body = orjson.dumps({"tool": tool.name, "arguments": parsed, "context": context})
    timestamp = int(time.time())
    delivery = new_delivery_id()
    headers = {
        "Content-Type": "application/json",
        "Accept-Encoding": ACCEPT_ENCODING,
        "X-Revos-Delivery": delivery,
        "X-Revos-Timestamp": str(timestamp),
        "X-Revos-Signature": sign(tool.secret, timestamp, body, delivery=delivery),
    }
    try:
        outgoing = client.build_request(
            "POST", url, content=body, headers=headers, timeout=tool.timeout_seconds
        )
    except httpx.InvalidURL as exc:
        log.info("tool %s at %s failed: %r", tool.name, tool.url, exc)
        return ToolExchange(None, None, f"the tool could not be reached ({type(exc).__name__})")
    sent = ToolRequest(url, list(outgoing.headers.multi_items()), body)
    answer: ToolAnswer | None = None
    try:
        # httpx's timeout bounds each read; the outer one bounds a tool that answers a byte at a time.
        async with asyncio.timeout(tool.timeout_seconds):
            response = await client.send(outgoing, stream=True)
            try:
                answer = ToolAnswer(response.status_code, list(response.headers.multi_items()))
                failed = None if response.is_success else f"the tool answered HTTP {response.status_code}"
                if failed is None or read_failed:
                    text, truncated = await _read_capped(response)
                    answer = replace(answer, body=text, truncated=truncated)
                return ToolExchange(sent, answer, failed)
            finally:
                await response.aclose()
    except AddressRefused as exc:
        error = exc.message
    except _UnsupportedEncoding as exc:
        error = f"the tool answered in an unsupported content encoding ({exc})"
    except zlib.error:
        error = "the tool's compressed answer is corrupt"
    except (TimeoutError, httpx.TimeoutException):
        error = f"the tool did not answer within {tool.timeout_seconds:g} s"
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        log.info("tool %s at %s failed: %r", tool.name, tool.url, exc)
        error = f"the tool could not be reached ({type(exc).__name__})"
    return ToolExchange(sent, answer, error)


class _UnsupportedEncoding(Exception):
    pass


def _inflater(response: httpx.Response) -> zlib._Decompress | None:
    """A decompressor for the answer's Content-Encoding (None: not compressed)."""
    encoding = response.headers.get("content-encoding", "identity").strip().lower()
    if encoding in ("", "identity"):
        return None
    if encoding not in _WBITS:
        raise _UnsupportedEncoding(encoding)
    return zlib.decompressobj(_WBITS[encoding])


async def _read_capped(response: httpx.Response) -> tuple[str, bool]:
    """The body as text, cut after MAX_RESULT_BYTES of decoded bytes (without splitting a UTF-8
    character), and whether it reached the cap. The cap holds while inflating: a small compressed chunk
    never inflates past it."""
    inflate = _inflater(response)
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    parts: list[str] = []
    remaining = MAX_RESULT_BYTES
    async for raw in response.aiter_raw():
        data = raw[:remaining] if inflate is None else inflate.decompress(raw, remaining)
        parts.append(decoder.decode(data))
        remaining -= len(data)
        if remaining == 0:
            return "".join(parts), True
    parts.append(decoder.decode(b"", final=True))
    return "".join(parts), False


def tool_context(
    tenant_id: str, agent_id: str, conversation_id: str, *, visitor_id: str, test: bool = False
) -> dict[str, object]:
    """The `context` a tool receives. `visitor_id` is whatever the visitor's browser chose (or one the
    gateway made up): a tool must never treat it as an identity, hence `visitor_id_verified: false`.
    `test` is true only for a test call made from the dashboard or the API, never in a conversation."""
    return {
        "tenant_id": tenant_id,
        "agent_id": agent_id,
        "conversation_id": conversation_id,
        "visitor_id": visitor_id,
        "visitor_id_verified": False,
        "test": test,
    }


def _failed(message: str) -> ToolResult:
    return ToolResult(ok=False, content=orjson.dumps({"error": message}).decode())
