"""Forwarding headers from trusted proxies: the scheme a request came in with and who sent it.

Replaces the server's own proxy-header handling (uvicorn believes the left-most `X-Forwarded-For`
entry when every address is trusted, and a client can write that one): the client is the right-most
untrusted entry (pipeline/client_address.py), and the rate limits count it.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from pipeline.client_address import SCHEMES, TrustedProxies, client_address


class ForwardedHeaders:
    """Sets `scope["scheme"]` and `scope["client"]` from the headers of a trusted proxy."""

    def __init__(self, app: ASGIApp, trusted: TrustedProxies) -> None:
        self.app = app
        self.trusted = trusted

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        peer = scope.get("client")
        host = peer[0] if peer else None
        if scope["type"] in ("http", "websocket") and self.trusted.believes(host):
            proto = None
            forwarded = []
            for name, value in scope["headers"]:
                if name == b"x-forwarded-proto":
                    proto = value.decode("latin-1").split(",")[-1].strip().lower()
                elif name == b"x-forwarded-for":
                    forwarded.append(value.decode("latin-1"))
            address = client_address(host, forwarded, self.trusted)
            if address is not None and address != host:
                scope["client"] = (address, 0)
            if proto in SCHEMES:
                secure = proto in ("https", "wss")
                if scope["type"] == "websocket":
                    scope["scheme"] = "wss" if secure else "ws"
                else:
                    scope["scheme"] = "https" if secure else "http"
        await self.app(scope, receive, send)
