"""A real HTTP server implementing the gateway's POST /v1/events contract, with injectable faults."""

from __future__ import annotations

import gzip
import json
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

API_KEY = "test-key"
MAX_EVENTS = 1000
MAX_BYTES = 1 << 20


def wait_until(predicate: Callable[[], bool], timeout: float = 10.0, interval: float = 0.01) -> None:
    """Poll `predicate` until true; fail the test at the deadline."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(interval)


@dataclass
class Arrival:
    """One request as the server saw it."""

    at: float
    ids: list[str]
    fault: str
    gzip: bool


@dataclass
class FaultServer:
    """Records every event id it processes; `faults` is consumed one entry per events request.

    Fault names: "500", "429:<seconds>", "503:<seconds>", "slow:<seconds>" (processes, answers late),
    "drop" (closes without answering or processing), "drop-after" (processes, then closes), "401".
    Events whose properties contain reject=true are rejected per event with code "invalid_event".
    Requests with more than `max_events` events get 413.
    """

    port: int = 0
    faults: deque[str] = field(default_factory=deque)
    max_events: int = MAX_EVENTS
    arrivals: list[Arrival] = field(default_factory=list)
    processed: Counter[str] = field(default_factory=Counter)
    bodies: list[dict[str, Any]] = field(default_factory=list)
    routes: dict[tuple[str, str], Callable[[dict[str, Any] | None], tuple[int, dict[str, Any]]]] = field(
        default_factory=dict
    )
    lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        server = ThreadingHTTPServer(("127.0.0.1", self.port), _handler_for(self))
        server.daemon_threads = True
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Go down: new connections are refused until start() is called again."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            assert self._thread is not None
            self._thread.join(5)
            self._server = None

    @property
    def unique_ids(self) -> set[str]:
        with self.lock:
            return set(self.processed)

    def duplicates(self) -> int:
        with self.lock:
            return sum(n - 1 for n in self.processed.values())

    def wait_for_ids(self, ids: set[str], timeout: float = 20.0) -> None:
        wait_until(lambda: ids <= self.unique_ids, timeout)


def _handler_for(state: FaultServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        # HTTP/1.0 closes every connection, so stop() really takes the server down.
        protocol_version = "HTTP/1.0"

        def log_message(self, format: str, *args: Any) -> None:
            return None

        def _read_json(self) -> tuple[dict[str, Any] | None, bool]:
            raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            gzipped = self.headers.get("Content-Encoding") == "gzip"
            if gzipped:
                raw = gzip.decompress(raw)
            if len(raw) > MAX_BYTES:
                return None, gzipped
            try:
                return json.loads(raw, parse_float=Decimal), gzipped
            except ValueError:
                return None, gzipped

        def _answer(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
            data = json.dumps(body, default=str).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # The client gave up (timeout); the events were still processed.

        def _error(self, status: int, code: str, headers: dict[str, str] | None = None) -> None:
            self._answer(status, {"error": {"code": code, "message": f"injected {code}"}}, headers)

        def _authorized(self) -> bool:
            if self.headers.get("Authorization") != f"Bearer {API_KEY}":
                self._error(401, "unauthorized")
                return False
            return True

        def do_POST(self) -> None:
            if self.path != "/v1/events":
                return self._route("POST")
            body, gzipped = self._read_json()
            with state.lock:
                fault = state.faults.popleft() if state.faults else "ok"
            ids = (
                [e.get("id") for e in body["events"]] if body and isinstance(body.get("events"), list) else []
            )
            state.arrivals.append(Arrival(time.monotonic(), ids, fault, gzipped))
            kind, _, arg = fault.partition(":")
            if kind == "drop":
                self.close_connection = True
                return None
            if kind == "401" or not self._authorized():
                return self._error(401, "unauthorized") if kind == "401" else None
            if kind in ("500", "503", "429"):
                headers = {"Retry-After": arg} if arg else None
                return self._error(int(kind), "injected", headers)
            if body is None or not isinstance(body.get("events"), list):
                return self._error(400, "invalid_json")
            if len(body["events"]) > state.max_events:
                return self._error(413, "too_large")
            results = []
            with state.lock:
                state.bodies.append(body)
                for event in body["events"]:
                    if (event.get("properties") or {}).get("reject") is True:
                        results.append(
                            {
                                "id": event["id"],
                                "status": "rejected",
                                "code": "invalid_event",
                                "message": "rejected on request",
                            }
                        )
                    else:
                        state.processed[event["id"]] += 1
                        results.append({"id": event["id"], "status": "accepted"})
            if kind == "drop-after":
                self.close_connection = True
                return None
            if kind == "slow":
                time.sleep(float(arg))
            accepted = sum(r["status"] == "accepted" for r in results)
            return self._answer(
                200, {"accepted": accepted, "rejected": len(results) - accepted, "results": results}
            )

        def do_GET(self) -> None:
            self._route("GET")

        def do_PUT(self) -> None:
            self._route("PUT")

        def _route(self, method: str) -> None:
            body = None
            if method != "GET":
                body, _ = self._read_json()
            with state.lock:
                fault = state.faults.popleft() if state.faults else "ok"
            kind, _, arg = fault.partition(":")
            if kind in ("500", "503", "429"):
                return self._error(int(kind), "injected", {"Retry-After": arg} if arg else None)
            if not self._authorized():
                return None
            handler = state.routes.get((method, self.path))
            if handler is None:
                return self._error(404, "not_found")
            status, answer = handler(body)
            return self._answer(status, answer)

    return Handler


# Fast retry timings so fault scenarios finish in seconds.
FAST: dict[str, Any] = {
    "backoff_base": 0.02,
    "backoff_max": 0.2,
    "max_batch_wait": 0.05,
    "request_timeout": 1.0,
    "exit_timeout": 5.0,
}
