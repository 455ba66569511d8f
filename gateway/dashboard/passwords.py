"""Passwords: argon2id with argon2-cffi's defaults (RFC 9106's second recommendation), hashed and checked
off the event loop, since each takes tens of milliseconds on purpose."""

from __future__ import annotations

import asyncio
import functools

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_HASHER = PasswordHasher()


@functools.cache
def _dummy() -> str:
    """Checked when the email is unknown, so a wrong email takes as long as a wrong password."""
    return _HASHER.hash("revos: no such user")


def hash_now(password: str) -> str:
    return _HASHER.hash(password)


async def hashed(password: str) -> str:
    return await asyncio.to_thread(_HASHER.hash, password)


async def matches(password_hash: str | None, password: str) -> bool:
    """Whether `password` is the one hashed; with no hash (no such user), False after the same work."""

    def check() -> bool:
        try:
            return _HASHER.verify(password_hash or _dummy(), password) and password_hash is not None
        except (VerificationError, InvalidHashError):
            return False

    return await asyncio.to_thread(check)
