"""Who is calling: a bearer API key (hashed lookup with a short positive cache), or a dashboard user's
session cookie (with its CSRF token on every request that changes something); 401 with a JSON error
otherwise.

A revocation applies at once everywhere: the admin writer notifies `KEYS_CHANNEL` when it revokes a key,
and every gateway listening drops its cache. A gateway that is not listening (its connection is being
re-established) does not cache at all, and a lookup that was in flight when a revocation was heard is
not cached either (it may have read the key before the revocation committed)."""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from datetime import UTC, datetime
from typing import Any

import asyncpg
from starlette.requests import Request

from gateway.http.errors import ApiError
from pipeline.admin.keys import hash_key, well_formed
from projections import login_sessions
from projections.admin import KEYS_CHANNEL, Caller, find_key

log = logging.getLogger(__name__)

SESSION_COOKIE = "revos_session"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def csrf_matches(expected: str, given: str | None) -> bool:
    return given is not None and hmac.compare_digest(expected.encode(), given.encode())


class Authenticator:
    """Resolves a request's key to its tenant; unknown keys are never cached, so new keys work at once."""

    def __init__(self, pool: asyncpg.Pool, cache_seconds: float = 5.0) -> None:
        self._pool = pool
        self._cache_seconds = cache_seconds
        self._cache: dict[str, tuple[float, Caller]] = {}
        self._listening = False  # only a gateway that hears revocations may cache
        self._generation = 0  # bumped by every revocation heard

    async def __call__(self, request: Request) -> Caller:
        header = request.headers.get("authorization")
        if not header:
            token = request.cookies.get(SESSION_COOKIE)
            if token:
                return await self.user(request, token)
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
        generation = self._generation
        identity = await find_key(self._pool, digest)
        if identity is None:
            raise ApiError(401, "invalid_api_key", "this API key is unknown or revoked")
        if not self._listening or generation != self._generation:
            return identity
        if len(self._cache) > 10_000:
            self._cache.clear()
        until = now + self._cache_seconds
        if identity.revoked_at is not None:  # a rotated key: never cached past its end
            until = min(until, now + (identity.revoked_at - datetime.now(UTC)).total_seconds())
        self._cache[digest] = (until, identity)
        return identity

    async def user(self, request: Request, token: str) -> Caller:
        """The dashboard user of a session cookie. A request that changes something must carry the
        session's CSRF token in the `X-CSRF-Token` header: another site's page can make the browser send
        the cookie, but cannot read the token."""
        session = await login_sessions.find(self._pool, token)
        if session is None:
            raise ApiError(401, "session_ended", "your dashboard session has ended; sign in again")
        if request.method not in SAFE_METHODS and not csrf_matches(
            session.csrf_token, request.headers.get(CSRF_HEADER)
        ):
            raise ApiError(403, "csrf_failed", "this request did not come from a dashboard page; reload it")
        request.state.login = session
        return Caller.user(session.user_id, session.tenant_id)

    def forget(self, *_: Any) -> None:
        """Drop every cached key (a key was revoked); also an asyncpg notification callback."""
        self._generation += 1
        self._cache.clear()

    async def listen(self, dsn: str, retry_seconds: float = 1.0) -> None:
        """Hear revocations on a connection of its own until cancelled; while it is down, cache nothing."""
        while True:
            conn: asyncpg.Connection | None = None
            try:
                conn = await asyncpg.connect(dsn)
                closed = asyncio.Event()
                conn.add_termination_listener(lambda _, ended=closed: ended.set())
                await conn.add_listener(KEYS_CHANNEL, self.forget)
                self.forget()  # revocations missed while not listening
                self._listening = True
                await closed.wait()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database is away: keep trying, uncached meanwhile
                log.warning("listening for key revocations failed: %r", exc)
            finally:
                self._listening = False
                self.forget()
                if conn is not None and not conn.is_closed():
                    conn.terminate()
            await asyncio.sleep(retry_seconds)
