"""Bearer API keys: hashed lookup with a short positive cache; 401 with a JSON error otherwise.

A revocation applies at once in the gateway process that made it and within CACHE_SECONDS in others."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import asyncpg
from starlette.requests import Request

from gateway.errors import ApiError
from pipeline.keys import hash_key, well_formed
from projections.admin import KeyIdentity, find_key

CACHE_SECONDS = 5.0


class Authenticator:
    """Resolves a request's key to its tenant; unknown keys are never cached, so new keys work at once."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self._cache: dict[str, tuple[float, KeyIdentity]] = {}

    async def __call__(self, request: Request) -> KeyIdentity:
        header = request.headers.get("authorization")
        if not header:
            raise ApiError(401, "missing_api_key", "send your API key as 'Authorization: Bearer <key>'")
        scheme, _, secret = header.partition(" ")
        secret = secret.strip()
        if scheme.lower() != "bearer" or not well_formed(secret):
            raise ApiError(401, "malformed_api_key", "the Authorization header must be 'Bearer rk_...'")
        digest = hash_key(secret)
        now = time.monotonic()
        hit = self._cache.get(digest)
        if hit is not None and hit[0] > now:
            return hit[1]
        identity = await find_key(self._pool, digest)
        if identity is None:
            raise ApiError(401, "invalid_api_key", "this API key is unknown or revoked")
        if len(self._cache) > 10_000:
            self._cache.clear()
        until = now + CACHE_SECONDS
        if identity.revoked_at is not None:  # a rotated key: never cached past its end
            until = min(until, now + (identity.revoked_at - datetime.now(UTC)).total_seconds())
        self._cache[digest] = (until, identity)
        return identity

    def forget(self) -> None:
        """Drop every cached key: this process revoked one, and revocation is immediate here."""
        self._cache.clear()
