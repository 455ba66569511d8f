"""A real local HTTP server that receives webhooks, for the status and alert webhooks' tests."""

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
    last one repeats), keeping every request's headers and body. `by_id`: the script runs per
    `webhook-id` (the first attempt of each gets the first step), and `answered` keeps the status given to
    each request (None for a hang the sender gave up on)."""

    script: list[str]
    hang_seconds: float = 2.0
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    port: int = field(default_factory=free_port)
    by_id: bool = False
    answered: list[tuple[str, int | None]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/calls"

    @contextlib.contextmanager
    def running(self) -> Iterator[Receiver]:
        receiver = self
        lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                headers = {k.lower(): v for k, v in self.headers.items()}
                webhook_id = headers.get("webhook-id", "")
                with lock:
                    receiver.received.append((headers, body))
                    seen = (
                        sum(1 for h, _ in receiver.received if h.get("webhook-id") == webhook_id)
                        if receiver.by_id
                        else len(receiver.received)
                    )
                    step = receiver.script[min(seen, len(receiver.script)) - 1]
                if step == "hang":
                    time.sleep(receiver.hang_seconds)
                status = 500 if step == "500" else 200
                try:
                    self.send_response(status)
                    self.send_header("content-length", "0")
                    self.end_headers()
                    self.wfile.flush()
                except OSError:  # a sender that gave up has closed the connection
                    receiver.answered.append((webhook_id, None))
                else:
                    receiver.answered.append((webhook_id, None if step == "hang" else status))

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
