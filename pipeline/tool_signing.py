"""Signatures on the requests the gateway sends to tenants' HTTP tools, and their verification.

The signature is `sha256=<hex HMAC-SHA256(secret, "<timestamp>." + body)>`, sent in `X-Revos-Signature`
with the unix-seconds timestamp in `X-Revos-Timestamp`. Signing the timestamp with the body lets a tool
refuse a captured request replayed later.
"""

from __future__ import annotations

import hashlib
import hmac

PREFIX = "sha256="


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The `X-Revos-Signature` value for `body` sent at `timestamp` (unix seconds)."""
    message = str(timestamp).encode("ascii") + b"." + body
    return PREFIX + hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def verify(
    secret: str, timestamp: str | int, body: bytes, signature: str, *, now: float, tolerance: int = 300
) -> bool:
    """True when `signature` signs `body` at `timestamp` and the timestamp is within `tolerance` s of `now`."""
    try:
        sent_at = int(timestamp)
    except (TypeError, ValueError):
        return False
    if abs(now - sent_at) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, sent_at, body), signature.strip())
