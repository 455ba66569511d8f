"""HTTP transports for `POST /v1/events`: request building and response classification shared by both."""

from __future__ import annotations

# socket.getaddrinfo imports this codec lazily on first use; doing it at import time keeps the batcher
# thread from holding an import lock at a moment the host process might fork (a child would deadlock).
import encodings.idna  # noqa: F401
import gzip
from collections.abc import Mapping, Sequence

import httpx
import orjson

from revos_sdk._config import Config
from revos_sdk._delivery.backoff import parse_retry_after
from revos_sdk._delivery.batch import Batch
from revos_sdk._errors import DeliveryError
from revos_sdk._transports.base import EventResult
from revos_sdk._version import __version__

EVENTS_PATH = "/v1/events"
# Rejection codes that mean "this id was already accepted earlier": the event is delivered.
ALREADY_ACCEPTED_CODES = frozenset({"duplicate", "duplicate_event", "already_accepted"})


def client_headers(api_key: str) -> dict[str, str]:
    """Headers every SDK request carries."""
    return {
        "Authorization": f"Bearer {api_key}",
        "User-Agent": f"revos-sdk-python/{__version__}",
        "Accept": "application/json",
    }


def encode_body(batch: Batch, gzip_threshold: int | None) -> tuple[bytes, dict[str, str]]:
    """The request body, gzipped above the threshold, and its content headers."""
    body = batch.body()
    headers = {"Content-Type": "application/json"}
    if gzip_threshold is not None and len(body) > gzip_threshold:
        # mtime=0 keeps the output deterministic; level 5 is most of the gain for JSON at half the CPU.
        body = gzip.compress(body, compresslevel=5, mtime=0)
        headers["Content-Encoding"] = "gzip"
    return body, headers


def error_from_response(
    status: int, headers: Mapping[str, str], content: bytes, cls: type[DeliveryError] = DeliveryError
) -> DeliveryError:
    """Turn a non-2xx answer into a DeliveryError (or `cls`) carrying the gateway's stable code."""
    code: str | None = None
    message = f"HTTP {status}"
    try:
        payload = orjson.loads(content)
        error = payload.get("error") if isinstance(payload, dict) else None
        if isinstance(error, dict):
            code = str(error.get("code")) if error.get("code") is not None else None
            message = str(error.get("message") or message)
    except orjson.JSONDecodeError:
        if content:
            message = content[:200].decode("utf-8", "replace")
    return cls(message, status=status, code=code, retry_after=parse_retry_after(headers.get("retry-after")))


def results_from_response(batch: Batch, content: bytes) -> list[EventResult]:
    """Per-event results from a 200 answer; a garbled answer is a retryable failure (resending is safe)."""
    try:
        payload = orjson.loads(content)
    except orjson.JSONDecodeError:
        raise DeliveryError(
            "the gateway answered 200 with a non-JSON body", code="malformed_response"
        ) from None
    if not isinstance(payload, dict):
        raise DeliveryError("the gateway answered 200 with an unexpected body", code="malformed_response")
    raw_results = payload.get("results")
    if raw_results is None:
        # Without per-event results only an all-accepted count is unambiguous.
        if payload.get("accepted") == len(batch) and not payload.get("rejected"):
            return [EventResult(item.id, True) for item in batch.items]
        raise DeliveryError("the gateway answered 200 without results", code="malformed_response")
    results: list[EventResult] = []
    for raw in raw_results if isinstance(raw_results, list) else ():
        if not isinstance(raw, dict) or not isinstance(raw.get("id"), str):
            continue
        code = raw.get("code")
        accepted = raw.get("status") == "accepted" or code in ALREADY_ACCEPTED_CODES
        results.append(
            EventResult(
                raw["id"],
                accepted,
                None if code is None else str(code),
                None if raw.get("message") is None else str(raw["message"]),
            )
        )
    return results


def transport_error(exc: httpx.HTTPError, cls: type[DeliveryError] = DeliveryError) -> DeliveryError:
    """A request that got no HTTP answer; `connect_error` means it surely never reached the server."""
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
        code = "connect_error"
    elif isinstance(exc, httpx.TimeoutException):
        code = "timeout"
    else:
        code = "transport_error"
    return cls(f"{type(exc).__name__}: {exc}", code=code)


class HttpTransport:
    """Sends batches with a pooled httpx.Client; one instance per process (recreated after fork)."""

    def __init__(self, config: Config, client: httpx.Client | None = None) -> None:
        self._gzip_threshold = config.gzip_threshold
        self._client = client or httpx.Client(
            base_url=config.base_url, headers=client_headers(config.api_key), timeout=config.request_timeout
        )

    def send(self, batch: Batch, timeout: float) -> Sequence[EventResult]:
        body, headers = encode_body(batch, self._gzip_threshold)
        try:
            response = self._client.post(EVENTS_PATH, content=body, headers=headers, timeout=timeout)
        except httpx.HTTPError as exc:
            raise transport_error(exc) from exc
        if response.status_code != 200:
            raise error_from_response(response.status_code, response.headers, response.content)
        return results_from_response(batch, response.content)

    def close(self) -> None:
        self._client.close()


class AsyncHttpTransport:
    """Sends batches with a pooled httpx.AsyncClient bound to the running event loop."""

    def __init__(self, config: Config, client: httpx.AsyncClient | None = None) -> None:
        self._gzip_threshold = config.gzip_threshold
        self._client = client or httpx.AsyncClient(
            base_url=config.base_url, headers=client_headers(config.api_key), timeout=config.request_timeout
        )

    async def send(self, batch: Batch, timeout: float) -> Sequence[EventResult]:
        body, headers = encode_body(batch, self._gzip_threshold)
        try:
            response = await self._client.post(EVENTS_PATH, content=body, headers=headers, timeout=timeout)
        except httpx.HTTPError as exc:
            raise transport_error(exc) from exc
        if response.status_code != 200:
            raise error_from_response(response.status_code, response.headers, response.content)
        return results_from_response(batch, response.content)

    async def aclose(self) -> None:
        await self._client.aclose()
