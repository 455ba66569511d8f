"""Every pooled connection is waited for with a deadline, and the gateway answers a full pool with 503."""

from __future__ import annotations

import time

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.http.errors import handle_revos_error
from gateway.http.responses import json_response
from pipeline.errors import RevosError
from projections.db import PoolExhausted, create_pool
from projections.retryable import is_retryable


async def test_waiting_for_a_connection_of_a_full_pool_ends_at_the_timeout(database: str) -> None:
    pool = await create_pool(database, max_size=1, acquire_timeout=0.2)
    try:
        async with pool.acquire():
            started = time.monotonic()
            with pytest.raises(PoolExhausted) as raised:
                await pool.fetchval("SELECT 1")  # the query helpers acquire too
            with pytest.raises(PoolExhausted):
                await pool.acquire()
            assert time.monotonic() - started < 2
            assert is_retryable(raised.value)
        assert await pool.fetchval("SELECT 1") == 1  # once freed, the connection serves again
    finally:
        await pool.close()


async def test_a_request_that_finds_the_pool_full_is_answered_503_with_retry_after(database: str) -> None:
    pool = await create_pool(database, max_size=1, acquire_timeout=0.2)

    async def read(request: Request) -> Response:
        return json_response({"one": await pool.fetchval("SELECT 1")})

    app = Starlette(routes=[Route("/read", read)], exception_handlers={RevosError: handle_revos_error})
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as api:
            async with pool.acquire():
                busy = await api.get("/read")
            assert busy.status_code == 503
            assert busy.headers["Retry-After"] == "1"
            assert busy.json() == {
                "error": {"code": "database_busy", "message": "the database is busy; retry shortly"}
            }
            assert (await api.get("/read")).json() == {"one": 1}
    finally:
        await pool.close()
