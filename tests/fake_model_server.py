"""A scriptable OpenAI-compatible chat completions server for tests: real HTTP/1.1, real SSE, own thread.

    with FakeModelServer() as server:
        server.script("model-a", Reply.error(500, "boom"), Reply.text(["Hel", "lo"], usage=(12, 2)))
        provider = OpenAICompatibleProvider(server.base_url, server.api_key, client=client)
        ...
        assert server.models_called() == ["model-a", "model-a"]

Each `POST {base_url}/chat/completions` takes the next scripted `Reply` for its request's `model`. A
model with nothing scripted gets the default reply: `You said: <last user message>` streamed word by word
(`default_delay` seconds apart) with usage in the final chunk, so a whole stack can be pointed at it
(`REVOS_MODEL_BASE_URL=server.base_url`, `REVOS_MODEL_API_KEY=server.api_key`). A wrong bearer token
gets 401. Every request is kept in `requests`, with its arrival time.

It runs in a thread, not on the test's event loop, so it keeps answering while a test blocks or waits.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections import defaultdict, deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

DONE = "data: [DONE]\n\n"


def sse(payload: dict[str, Any]) -> str:
    """One SSE event carrying `payload` as its data."""
    return f"data: {json.dumps(payload)}\n\n"


def chunk(
    content: str | None = None,
    *,
    tool_calls: list[dict[str, Any]] | None = None,
    finish_reason: str | None = None,
    usage: tuple[int, int] | None = None,
    model: str = "fake",
) -> str:
    """A `chat.completion.chunk` event; with `usage` and nothing else it is the final usage-only chunk."""
    delta: dict[str, Any] = {}
    if content is not None:
        delta["content"] = content
    if tool_calls is not None:
        delta["tool_calls"] = tool_calls
    payload: dict[str, Any] = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "model": model}
    only_usage = usage is not None and content is None and tool_calls is None and finish_reason is None
    payload["choices"] = [] if only_usage else [{"index": 0, "delta": delta, "finish_reason": finish_reason}]
    if usage is not None:
        payload["usage"] = {
            "prompt_tokens": usage[0],
            "completion_tokens": usage[1],
            "total_tokens": usage[0] + usage[1],
        }
    return sse(payload)


def in_band_error(message: str, code: int | str = 502) -> str:
    """The error event OpenRouter sends inside a stream that already answered HTTP 200."""
    return sse({"error": {"message": message, "code": code}, "choices": [{"finish_reason": "error"}]})


@dataclass(frozen=True)
class Reply:
    """One scripted answer: an HTTP error with `body`, or an event stream of `events` (raw SSE text).

    Each event is written and flushed as its own HTTP chunk, `delay` seconds after the previous one.
    `drop` closes the connection after the events without ending the chunked body, as a crash would.
    """

    status: int = 200
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes | None = None
    events: tuple[str, ...] = ()
    drop: bool = False
    delay: float = 0.0

    @classmethod
    def text(
        cls,
        pieces: Sequence[str],
        *,
        usage: tuple[int, int] | None = (10, 5),
        finish_reason: str = "stop",
        delay: float = 0.0,
    ) -> Reply:
        """A normal streamed answer: a role chunk, one chunk per piece, the finish, usage, [DONE]."""
        events = [sse({"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]})]
        events += [chunk(piece) for piece in pieces]
        events.append(chunk(finish_reason=finish_reason))
        if usage is not None:
            events.append(chunk(usage=usage))
        events.append(DONE)
        return cls(events=tuple(events), delay=delay)

    @classmethod
    def stream(cls, *events: str, drop: bool = False, delay: float = 0.0) -> Reply:
        """Exactly these raw SSE events (add DONE yourself)."""
        return cls(events=events, drop=drop, delay=delay)

    @classmethod
    def error(cls, status: int, message: str = "scripted error", *, retry_after: str | None = None) -> Reply:
        """An HTTP error with OpenAI's `{"error": {"message", "code"}}` body."""
        headers = (("Retry-After", retry_after),) if retry_after is not None else ()
        body = json.dumps({"error": {"message": message, "code": status}}).encode()
        return cls(status=status, headers=headers, body=body)


@dataclass(frozen=True)
class SeenRequest:
    """One request as the server saw it; `at` is time.monotonic() on arrival."""

    at: float
    model: str
    body: dict[str, Any]
    headers: dict[str, str]


@dataclass
class FakeModelServer:
    api_key: str = "fake-model-key"
    default_delay: float = 0.0
    requests: list[SeenRequest] = field(default_factory=list)
    _scripts: defaultdict[str, deque[Reply]] = field(default_factory=lambda: defaultdict(deque))
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None

    @property
    def base_url(self) -> str:
        assert self._server is not None, "start the server first"
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def script(self, model: str, *replies: Reply) -> None:
        """Queue `replies` for `model`, one per request, after those already queued."""
        with self._lock:
            self._scripts[model].extend(replies)

    def models_called(self) -> list[str]:
        with self._lock:
            return [seen.model for seen in self.requests]

    def start(self) -> FakeModelServer:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        server.daemon_threads = True
        self._server = server
        threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.02}, name="fake-model-server", daemon=True
        ).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeModelServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _next_reply(self, seen: SeenRequest) -> Reply:
        with self._lock:
            self.requests.append(seen)
            if seen.headers.get("authorization") != f"Bearer {self.api_key}":
                return Reply.error(401, "invalid API key")
            queued = self._scripts.get(seen.model)
            if queued:
                return queued.popleft()
        return Reply.text(_words(f"You said: {_last_user_text(seen.body)}"), delay=self.default_delay)


def _handler(owner: FakeModelServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if not self.path.endswith("/chat/completions"):
                self._send(Reply.error(404, f"no route {self.path}"))
                return
            body = json.loads(raw)
            headers = {name.lower(): value for name, value in self.headers.items()}
            seen = SeenRequest(time.monotonic(), str(body.get("model")), body, headers)
            try:
                self._send(owner._next_reply(seen))
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True  # the client gave up (a timeout, a cancelled call)

        def _send(self, reply: Reply) -> None:
            self.send_response(reply.status)
            for name, value in reply.headers:
                self.send_header(name, value)
            if reply.body is not None or reply.status != 200:
                payload = reply.body or b""
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
                return
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for event in reply.events:
                if reply.delay:
                    time.sleep(reply.delay)
                data = event.encode()
                self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                self.wfile.flush()
            if reply.drop:
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            self.wfile.write(b"0\r\n\r\n")

        def finish(self) -> None:
            with contextlib.suppress(OSError):  # the peer or a `drop` reply closed the connection
                super().finish()

    return Handler


def _words(text: str) -> list[str]:
    parts = text.split(" ")
    return [part + " " for part in parts[:-1]] + parts[-1:]


def _last_user_text(body: dict[str, Any]) -> str:
    messages: Iterable[dict[str, Any]] = body.get("messages") or ()
    users = [m.get("content") for m in messages if m.get("role") == "user"]
    return str(users[-1]) if users else ""
