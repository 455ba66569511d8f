"""Signatures on the requests the gateway sends to tenants' HTTP tools, and their verification.

Each request carries a unique delivery id in `X-Revos-Delivery` and the unix-seconds time it was sent
in `X-Revos-Timestamp`. The signature, in `X-Revos-Signature`, is
`sha256=<hex HMAC-SHA256(secret, "<timestamp>.<delivery id>." + body)>`: the timestamp lets a tool
refuse a captured request replayed later, and the delivery id (which a tool remembers for as long as it
accepts a timestamp) lets it refuse one replayed sooner.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

PREFIX = "sha256="
TOLERANCE_SECONDS = 300
# No dot: the signed text joins timestamp, id and body with dots, so an id with one could take a piece
# of the body and make a captured request look like a new delivery.
_DELIVERY = re.compile(r"[A-Za-z0-9_-]{1,100}")


def new_delivery_id() -> str:
    """A delivery id no other request will carry: `dlv_` + 128 random bits in hex."""
    return "dlv_" + secrets.token_hex(16)


def sign(secret: str, timestamp: int, body: bytes, *, delivery: str) -> str:
    """The `X-Revos-Signature` value for `body` sent at `timestamp` (unix seconds) as `delivery`."""
    message = f"{timestamp}.{delivery}.".encode("ascii") + body
    return PREFIX + hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def verify(
    secret: str,
    timestamp: str | int,
    body: bytes,
    signature: str,
    *,
    delivery: str,
    now: float,
    tolerance: int = TOLERANCE_SECONDS,
) -> bool:
    """True when `signature` signs `body` at `timestamp` as `delivery` and the timestamp is within
    `tolerance` s of `now`. Refusing a delivery id seen before is the receiver's part (docs/chat.md)."""
    try:
        sent_at = int(timestamp)
    except (TypeError, ValueError):
        return False
    if abs(now - sent_at) > tolerance or not _DELIVERY.fullmatch(delivery):
        return False
    return hmac.compare_digest(sign(secret, sent_at, body, delivery=delivery), signature.strip())
