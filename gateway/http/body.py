"""Reading request bodies: size-limited, optionally gzip-encoded, JSON-parsed with clear errors."""

from __future__ import annotations

import zlib
from typing import Any

import orjson
from starlette.requests import Request

from gateway.http.errors import ApiError

MAX_BODY = 1 << 20  # 1 MiB, after decompression


def _too_large() -> ApiError:
    return ApiError(413, "body_too_large", f"request body exceeds {MAX_BODY} bytes")


async def read_json(request: Request, *, limit: int = MAX_BODY, optional: bool = False) -> Any:
    """The request's JSON body; with `optional`, an empty body reads as `{}` (every field omitted)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _too_large()
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large()
        chunks.append(chunk)
    raw = b"".join(chunks)
    encoding = request.headers.get("content-encoding", "identity").lower()
    if encoding == "gzip":
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            raw = inflater.decompress(raw, limit + 1)
        except zlib.error as exc:
            raise ApiError(400, "invalid_encoding", "body is not valid gzip") from exc
        if len(raw) > limit or inflater.unconsumed_tail:
            raise _too_large()
        if not inflater.eof:  # cut short: the end of the stream and its checksum never arrived
            raise ApiError(400, "invalid_encoding", "gzip body is truncated")
    elif encoding != "identity":
        raise ApiError(
            415, "unsupported_encoding", f"Content-Encoding {encoding!r} is not supported; use gzip"
        )
    if not raw and optional:
        return {}
    if not raw:
        raise ApiError(400, "invalid_json", "request body is empty; expected JSON")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, "invalid_json", f"request body is not valid JSON: {exc}") from exc
