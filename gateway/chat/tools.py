"""Calling a tenant's HTTP tool on behalf of a model, with a signed request; failures become results."""

from __future__ import annotations

import asyncio
import codecs
import ipaddress
import logging
import socket
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx
import orjson

from pipeline.records import AssistantTool
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
    allow_private: bool = False,
) -> ToolResult:
    """POST `{"tool", "arguments", "context"}` to the tool, signed; never raises for the tool's faults.

    A model that gets an error back can apologise or try otherwise, so every failure (bad arguments,
    timeout, refused connection, non-2xx) is a result, not an exception. Unless `allow_private`, a tool
    whose host resolves to a private, loopback or link-local address is refused: a tenant must not be
    able to make the gateway call into the network it runs in.
    """
    try:
        parsed = orjson.loads(arguments) if arguments.strip() else {}
    except orjson.JSONDecodeError as exc:
        return _failed(f"the arguments are not valid JSON: {exc}")
    if not isinstance(parsed, dict):
        return _failed("the arguments must be a JSON object")
    if not allow_private and (refused := await _not_public(tool.url)) is not None:
        return _failed(refused)
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
                "POST", tool.url, content=body, headers=headers, timeout=tool.timeout_seconds
            ) as response:
                if not response.is_success:
                    return _failed(f"the tool answered HTTP {response.status_code}")
                return ToolResult(ok=True, content=await _read_capped(response))
    except (TimeoutError, httpx.TimeoutException):
        return _failed(f"the tool did not answer within {tool.timeout_seconds:g} s")
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        log.info("tool %s at %s failed: %r", tool.name, tool.url, exc)
        return _failed(f"the tool could not be reached ({type(exc).__name__})")


async def _not_public(url: str) -> str | None:
    """Why the URL's host may not be called (it resolves to a non-public address), or None.

    The address is checked when the call is made, not when the tool is saved, so a DNS change cannot
    turn a saved tool inward; a resolver answering differently between this check and the connection
    is not covered.
    """
    try:
        host = urlsplit(url).hostname
        infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (ValueError, OSError):
        return "the tool's host does not resolve"
    for *_, sockaddr in infos:
        address = ipaddress.ip_address(sockaddr[0])
        if not address.is_global:
            return f"the tool's address {address} is not public"
    return None


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
