"""API keys: random, shown once, stored only as a SHA-256 hash with a short display prefix; their scopes."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass

# What a key may do. `admin`: every route. `ingest`: what a product's backend needs to meter usage (send
# events, check entitlements and release holds, read balances and entitlements); gateway/http/scopes.py maps
# every route to the scope it needs.
ADMIN = "admin"
INGEST = "ingest"
SCOPES = (ADMIN, INGEST)

KEY_PREFIX = "rk_"
DISPLAY_CHARS = 10
_SHAPE = re.compile(r"^rk_[A-Za-z0-9_-]{40,64}$")


@dataclass(frozen=True, slots=True)
class NewKey:
    key_id: str
    secret: str
    prefix: str
    key_hash: str


def hash_key(secret: str) -> str:
    # Keys carry 256 random bits, so a fast hash is safe; a slow KDF would only cost latency.
    return hashlib.sha256(secret.encode()).hexdigest()


def new_key() -> NewKey:
    secret = KEY_PREFIX + secrets.token_urlsafe(32)
    return NewKey(
        key_id="key_" + secrets.token_hex(8),
        secret=secret,
        prefix=secret[:DISPLAY_CHARS],
        key_hash=hash_key(secret),
    )


def well_formed(secret: str) -> bool:
    return bool(_SHAPE.fullmatch(secret))  # match() with $ would accept a trailing newline


def new_tenant_id() -> str:
    return "ten_" + secrets.token_hex(8)
