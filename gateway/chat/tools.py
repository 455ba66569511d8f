"""Calling a tenant's HTTP tool on behalf of a model, with a signed request; failures become results."""

from __future__ import annotations

import asyncio
import codecs
import logging
import time
from dataclasses import dataclass

import httpx
import orjson

from gateway.chat.tool_client import AddressRefused
from pipeline.records import AssistantTool
from pipeline.tool_addresses import canonical_url
from pipeline.tool_signing import sign

log = logging.getLogger(__name__)

MAX_RESULT_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class ToolResult:
    """What the model gets back: the tool's answer, or a JSON error text when `ok` is False."""

    ok: bool
    content: str


async def call_tool(
    tool: AssistantTool,
    arguments: str,
    *,
    client: httpx.AsyncClient,
    context: dict[str, str],
) -> ToolResult:
    """POST `{"tool", "arguments", "context"}` to the tool, signed; never raises for the tool's faults.

    A model that gets an error back can apologise or try otherwise, so every failure (bad arguments,
    timeout, refused connection, non-2xx) is a result, not an exception. `client` comes from
    `tool_client`, which refuses a host that resolves to a private, loopback or link-local address: a
    tenant must not be able to make the gateway call into the network it runs in.
    """
    try:
        parsed = orjson.loads(arguments) if arguments.strip() else {}
    except orjson.JSONDecodeError as exc:
        return _failed(f"the arguments are not valid JSON: {exc}")
    if not isinstance(parsed, dict):
        return _failed("the arguments must be a JSON object")
    try:
        url = canonical_url(tool.url)
    except ValueError:
        return _failed("the tool's host is not a valid host name")
    body = orjson.dumps({"tool": tool.name, "arguments": parsed, "context": context})
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "X-Revos-Timestamp": str(timestamp),
        "X-Revos-Signature": sign(tool.secret, timestamp, body),
    }
    try:
        # httpx's timeout bounds each read; the outer one bounds a tool that answers a byte at a time.
        async with asyncio.timeout(tool.timeout_seconds):
            async with client.stream(
                "POST", url, content=body, headers=headers, timeout=tool.timeout_seconds
            ) as response:
                if not response.is_success:
                    return _failed(f"the tool answered HTTP {response.status_code}")
                return ToolResult(ok=True, content=await _read_capped(response))
    except AddressRefused as exc:
        return _failed(exc.message)
    except (TimeoutError, httpx.TimeoutException):
        return _failed(f"the tool did not answer within {tool.timeout_seconds:g} s")
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        log.info("tool %s at %s failed: %r", tool.name, tool.url, exc)
        return _failed(f"the tool could not be reached ({type(exc).__name__})")


async def _read_capped(response: httpx.Response) -> str:
    """The body as text, cut after MAX_RESULT_BYTES (without splitting a UTF-8 character)."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    parts: list[str] = []
    remaining = MAX_RESULT_BYTES
    async for data in response.aiter_bytes():
        parts.append(decoder.decode(data[:remaining]))
        remaining -= min(len(data), remaining)
        if remaining == 0:
            return "".join(parts)
    parts.append(decoder.decode(b"", final=True))
    return "".join(parts)


def _failed(message: str) -> ToolResult:
    return ToolResult(ok=False, content=orjson.dumps({"error": message}).decode())
