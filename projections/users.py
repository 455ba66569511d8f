"""Dashboard users: the writer fed by the admin topic, and the lookups sign-in needs."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from pipeline.records import UserCreated, UserPasswordChanged

# A second user with an email already taken is not projected (UNIQUE (email)); neither is a replay.
INSERT_USER = """
INSERT INTO users (user_id, tenant_id, email, password_hash, created_at, created_by, password_event, password_set_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $5)
ON CONFLICT DO NOTHING
"""
# A replayed or older change never overwrites a newer password.
CHANGE_PASSWORD = """
UPDATE users SET password_hash = $3, password_event = $4, password_set_at = $5
WHERE tenant_id = $1 AND user_id = $2 AND password_set_at <= $5 AND password_event <> $4
"""
FIND_BY_EMAIL = "SELECT user_id, tenant_id, email, password_hash FROM users WHERE email = $1"
FIND = "SELECT user_id, tenant_id, email, password_hash FROM users WHERE user_id = $1"
EMAIL_TAKEN = "SELECT user_id FROM users WHERE email = $1"
HAS_USERS = "SELECT EXISTS (SELECT 1 FROM users WHERE tenant_id = $1)"
EMAILS = "SELECT user_id, email FROM users WHERE tenant_id = $1"
# For waiting on a write: the user exists / has this password record.
CREATED = "SELECT user_id FROM users WHERE email = $1"
PASSWORD_SET = "SELECT 1 FROM users WHERE user_id = $1 AND password_event = $2"


@dataclass(frozen=True, slots=True)
class User:
    user_id: str
    tenant_id: str
    email: str
    password_hash: str


async def create(conn: asyncpg.Connection, r: UserCreated) -> None:
    await conn.execute(
        INSERT_USER, r.user_id, r.tenant_id, r.email, r.password_hash, r.occurred_at, r.actor, r.event_id
    )


async def change_password(conn: asyncpg.Connection, r: UserPasswordChanged) -> None:
    await conn.execute(CHANGE_PASSWORD, r.tenant_id, r.user_id, r.password_hash, r.event_id, r.occurred_at)


def _user(row: asyncpg.Record | None) -> User | None:
    return None if row is None else User(row["user_id"], row["tenant_id"], row["email"], row["password_hash"])


async def by_email(pool: asyncpg.Pool, email: str) -> User | None:
    return _user(await pool.fetchrow(FIND_BY_EMAIL, email))


async def by_id(pool: asyncpg.Pool, user_id: str) -> User | None:
    return _user(await pool.fetchrow(FIND, user_id))


async def has_users(pool: asyncpg.Pool, tenant_id: str) -> bool:
    """Whether anyone can sign in to the tenant's dashboard."""
    found: bool = await pool.fetchval(HAS_USERS, tenant_id)
    return found


async def emails(pool: asyncpg.Pool, tenant_id: str) -> dict[str, str]:
    """The tenant's users' emails by user id."""
    return {r["user_id"]: r["email"] for r in await pool.fetch(EMAILS, tenant_id)}
