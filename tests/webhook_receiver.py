"""A real local HTTP server that receives webhooks, for the status webhooks' tests."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from infra.ports import free_port


@dataclass
class Receiver:
    """A local HTTP server answering each request with the next of `script` ("500", "hang", "200"; the
    last one repeats), keeping every request's headers and body."""

    script: list[str]
    hang_seconds: float = 2.0
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    port: int = field(default_factory=free_port)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/calls"

    @contextlib.contextmanager
    def running(self) -> Iterator[Receiver]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                receiver.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                step = receiver.script[min(len(receiver.received), len(receiver.script)) - 1]
                if step == "hang":
                    time.sleep(receiver.hang_seconds)
                status = 500 if step == "500" else 200
                with contextlib.suppress(OSError):  # a sender that gave up has closed the connection
                    self.send_response(status)
                    self.send_header("content-length", "0")
                    self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        server.daemon_threads = True
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            server.shutdown()
            server.server_close()
