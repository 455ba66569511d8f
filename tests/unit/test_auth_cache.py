"""The gateway's key cache never keeps a key past a revocation, even one heard while the key's lookup was
in flight (the lookup may have read the row before the revocation committed)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from starlette.requests import Request

from gateway.http.auth import Authenticator
from gateway.http.errors import ApiError
from pipeline.admin.keys import new_key

KEY = new_key()
ROW = {"key_id": KEY.key_id, "tenant_id": "ten_1", "prefix": KEY.prefix, "revoked_at": None, "scope": "admin"}


class GatedPool:
    """Answers key lookups from `rows`; each lookup holds its answer until `gate` opens."""

    def __init__(self) -> None:
        self.rows: dict[str, dict[str, Any]] = {KEY.key_hash: ROW}
        self.lookups = 0
        self.gate = asyncio.Event()
        self.gate.set()
        self.read = asyncio.Event()

    async def fetchrow(self, query: str, key_hash: str) -> dict[str, Any] | None:
        self.lookups += 1
        row = self.rows.get(key_hash)  # read now, answered later: what the database saw at this time
        self.read.set()
        await self.gate.wait()
        return row


def request() -> Request:
    headers = [(b"authorization", f"Bearer {KEY.secret}".encode())]
    return Request({"type": "http", "method": "GET", "path": "/v1/keys", "headers": headers})


def listening(pool: GatedPool) -> Authenticator:
    auth = Authenticator(pool)  # type: ignore[arg-type]
    auth._listening = True  # as listen() does once its LISTEN is in place
    return auth


async def test_a_known_key_is_cached_until_a_revocation_is_heard() -> None:
    pool = GatedPool()
    auth = listening(pool)
    await auth(request())
    await auth(request())
    assert pool.lookups == 1

    auth.forget()
    await auth(request())
    assert pool.lookups == 2


async def test_a_lookup_in_flight_when_a_revocation_is_heard_is_not_cached() -> None:
    pool = GatedPool()
    auth = listening(pool)
    pool.gate.clear()
    in_flight = asyncio.create_task(auth(request()))
    await pool.read.wait()  # the lookup read the key while it was live...
    del pool.rows[KEY.key_hash]  # ...then the revocation committed
    auth.forget()  # and its notification arrived before the lookup's answer
    pool.gate.set()
    assert (await in_flight).key_id == KEY.key_id  # this request raced the revocation: it may pass

    with pytest.raises(ApiError) as refused:  # not served from the cache: looked up, and unknown
        await auth(request())
    assert refused.value.code == "invalid_api_key"
    assert pool.lookups == 2
