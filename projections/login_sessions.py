"""Signed-in dashboard sessions, kept by the gateways in PostgreSQL so that every gateway process knows
them. The cookie carries a random token; only its SHA-256 is stored, so a copy of the table signs nobody
in. A session ends at logout, at a password change (all of the user's sessions), after `IDLE` without a
request, or `LIFETIME` after sign-in, whichever comes first."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

import asyncpg

IDLE = timedelta(days=7)
LIFETIME = timedelta(days=30)
TOUCH_EVERY = timedelta(minutes=5)  # how stale `seen_at` may get before a request refreshes it

INSERT = """
INSERT INTO login_sessions (token_hash, user_id, tenant_id, csrf_token, created_at, seen_at, expires_at)
VALUES ($1, $2, $3, $4, now(), now(), now() + $5::interval)
"""
# Found only while alive; `stale` says whether seen_at is due a refresh.
FIND = """
SELECT s.user_id, s.tenant_id, s.csrf_token, u.email, s.seen_at < now() - $3::interval AS stale
FROM login_sessions s JOIN users u ON u.user_id = s.user_id AND u.tenant_id = s.tenant_id
WHERE s.token_hash = $1 AND s.expires_at > now() AND s.seen_at > now() - $2::interval
"""
TOUCH = "UPDATE login_sessions SET seen_at = now() WHERE token_hash = $1"
DELETE = "DELETE FROM login_sessions WHERE token_hash = $1"
DELETE_USER = "DELETE FROM login_sessions WHERE user_id = $1 AND token_hash <> $2"
SWEEP = "DELETE FROM login_sessions WHERE expires_at <= now() OR seen_at <= now() - $1::interval"


@dataclass(frozen=True, slots=True)
class LoginSession:
    user_id: str
    tenant_id: str
    email: str
    csrf_token: str


@dataclass(frozen=True, slots=True)
class NewSession:
    token: str  # the cookie's value: shown once, never stored
    csrf_token: str


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def start(pool: asyncpg.Pool, user_id: str, tenant_id: str) -> NewSession:
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    await pool.execute(INSERT, token_hash(token), user_id, tenant_id, csrf, LIFETIME)
    return NewSession(token, csrf)


async def find(pool: asyncpg.Pool, token: str) -> LoginSession | None:
    """The live session of a cookie's token, refreshing its last-seen time now and then; None otherwise."""
    digest = token_hash(token)
    row = await pool.fetchrow(FIND, digest, IDLE, TOUCH_EVERY)
    if row is None:
        return None
    if row["stale"]:
        await pool.execute(TOUCH, digest)
    return LoginSession(row["user_id"], row["tenant_id"], row["email"], row["csrf_token"])


async def end(pool: asyncpg.Pool, token: str) -> None:
    await pool.execute(DELETE, token_hash(token))


async def end_others(pool: asyncpg.Pool, user_id: str, keep_token: str) -> None:
    """Sign the user out everywhere but here (after a password change)."""
    await pool.execute(DELETE_USER, user_id, token_hash(keep_token))


async def sweep(pool: asyncpg.Pool) -> int:
    status: str = await pool.execute(SWEEP, IDLE)
    return int(status.split()[-1])
