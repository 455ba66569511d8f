"""The HTTP client for tenants' URLs (tools, status webhooks): it connects only to the public address it checked.

The check happens where the connection is made: the host httpx is about to connect to is resolved
once, every address it resolves to must be public, and the socket goes to one of those addresses. A
name that resolves differently a moment later (DNS rebinding) is never resolved again for this
connection; TLS still verifies the certificate for the name and the Host header keeps the name.

Each use gets a client of its own: it keeps no cookies (a tool must not plant a cookie that another
tenant's tool would receive), reads no proxy or .netrc settings from the environment, and follows no
redirect. The gateway calls tools with one; the worker delivers status webhooks with another.
"""

from __future__ import annotations

import asyncio
import http.cookiejar
import ipaddress
import socket
import ssl
import typing
from collections.abc import Awaitable, Callable

import httpcore
import httpx

from pipeline.assistants.tool_addresses import IPAddress, is_public
from pipeline.errors import RevosError

Resolver = Callable[[str, int], Awaitable[list[IPAddress]]]

MAX_CONNECTIONS = 100


class AddressRefused(RevosError):
    """A tenant's host does not resolve, or resolves to an address that is not public."""

    code = "tool_address_refused"


async def system_resolver(host: str, port: int) -> list[IPAddress]:
    """The addresses the operating system's resolver gives for `host` (an ASCII name or an IP literal)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(ipaddress.ip_address(sockaddr[0]) for *_, sockaddr in infos))


class PublicAddressBackend(httpcore.AsyncNetworkBackend):
    """Resolves each host once and connects to an address from that answer, refusing non-public ones."""

    def __init__(self, resolve: Resolver, *, allow_private: bool, what: str = "the tool") -> None:
        self._resolve = resolve
        self._allow_private = allow_private
        self._what = what  # named in the refusals: "the tool's host does not resolve"
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            addresses = await self._resolve(host, port)
        except (OSError, ValueError) as exc:
            raise AddressRefused(f"{self._what}'s host does not resolve") from exc
        if not addresses:
            raise AddressRefused(f"{self._what}'s host does not resolve")
        if not self._allow_private:
            for address in addresses:
                if not is_public(address):
                    raise AddressRefused(f"{self._what}'s address {address} is not public")
        failed: httpcore.ConnectError | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    str(address), port, timeout, local_address, socket_options
                )
            except httpcore.ConnectError as exc:
                failed = exc
        assert failed is not None
        raise failed

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise AddressRefused(f"{self._what} is reached over TCP only")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class _CheckedTransport(httpx.AsyncHTTPTransport):
    def __init__(self, backend: PublicAddressBackend, ssl_context: ssl.SSLContext) -> None:
        super().__init__(verify=ssl_context, trust_env=False)
        # httpx's transport takes no network backend, so its pool is replaced by one that uses ours.
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context,
            max_connections=MAX_CONNECTIONS,
            max_keepalive_connections=20,
            keepalive_expiry=5.0,
            network_backend=backend,
        )


class _NoCookies(http.cookiejar.DefaultCookiePolicy):
    def set_ok(self, cookie: http.cookiejar.Cookie, request: typing.Any) -> bool:
        return False

    def return_ok(self, cookie: http.cookiejar.Cookie, request: typing.Any) -> bool:
        return False


def guarded_client(
    *,
    allow_private: bool = False,
    resolve: Resolver = system_resolver,
    ssl_context: ssl.SSLContext | None = None,
    what: str = "the tool",
) -> httpx.AsyncClient:
    """A client for one kind of tenant URL (`what` it calls, as refusals name it); `allow_private` lets it
    reach private addresses (development, tests: REVOS_TOOLS_ALLOW_PRIVATE)."""
    backend = PublicAddressBackend(resolve, allow_private=allow_private, what=what)
    transport = _CheckedTransport(backend, ssl_context or httpx.create_ssl_context(trust_env=False))
    return httpx.AsyncClient(
        transport=transport,
        cookies=http.cookiejar.CookieJar(policy=_NoCookies()),
        trust_env=False,
        follow_redirects=False,
    )
