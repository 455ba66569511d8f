"""Postgres pools and migrations; transient database errors are retried with backoff."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Generator
from importlib import resources
from typing import Any, TypeVar

import asyncpg
import asyncpg.pool
import orjson
from tenacity import AsyncRetrying, retry_if_exception, stop_after_delay, wait_exponential_jitter

from pipeline.errors import TransientError
from projections.retryable import is_retryable

log = logging.getLogger(__name__)
T = TypeVar("T")


class PoolExhausted(TransientError):
    """No pooled connection came free within the pool's acquire timeout."""

    code = "database_busy"


class _TimedAcquire(asyncpg.pool.PoolAcquireContext):
    """An acquire that ends in PoolExhausted, not a bare TimeoutError, when its timeout passes."""

    async def __aenter__(self) -> asyncpg.pool.PoolConnectionProxy:
        try:
            return await super().__aenter__()
        except TimeoutError as exc:
            raise PoolExhausted(f"no database connection came free within {self.timeout:g} s") from exc

    def __await__(self) -> Generator[Any, None, asyncpg.pool.PoolConnectionProxy]:
        try:
            return (yield from super().__await__())
        except TimeoutError as exc:
            raise PoolExhausted(f"no database connection came free within {self.timeout:g} s") from exc


class BoundedPool(asyncpg.Pool):
    """A pool whose every acquire, including those inside `fetch`, `execute` and friends, has a timeout.

    Waiting forever for a connection lets one caller's burst stop every other caller; a bounded wait
    turns it into an error the gateway answers with 503 and Retry-After.
    """

    def __init__(self, *args: Any, acquire_timeout: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._acquire_timeout = acquire_timeout

    def acquire(self, *, timeout: float | None = None) -> _TimedAcquire:
        return _TimedAcquire(self, self._acquire_timeout if timeout is None else timeout)


_MIGRATION_LOCK = 0x5245564F  # "REVO": serializes concurrent migrators


async def _init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec(
        "jsonb", encoder=lambda v: orjson.dumps(v).decode(), decoder=orjson.loads, schema="pg_catalog"
    )


async def create_pool(
    dsn: str, *, min_size: int = 1, max_size: int = 10, acquire_timeout: float | None = None
) -> asyncpg.Pool:
    """A pool whose connections speak jsonb as Python objects; waits for the database to come up.

    With `acquire_timeout`, waiting for a free connection raises PoolExhausted after that many seconds.
    """
    async for attempt in AsyncRetrying(
        retry=retry_if_exception(is_retryable),
        wait=wait_exponential_jitter(multiplier=0.1, max=2),
        stop=stop_after_delay(60),
        reraise=True,
    ):
        with attempt:
            options: dict[str, Any] = dict(
                min_size=min_size,
                max_size=max_size,
                init=_init_connection,
                # asyncpg prepares every statement; a generic plan made while a table is empty keeps
                # seq-scanning it as it grows (the unnest joins of the billing writer did). Plan each call.
                server_settings={"plan_cache_mode": "force_custom_plan"},
            )
            if acquire_timeout is None:
                pool: asyncpg.Pool = await asyncpg.create_pool(dsn, **options)
            else:
                pool = await BoundedPool(
                    dsn,
                    acquire_timeout=acquire_timeout,
                    max_queries=50_000,
                    max_inactive_connection_lifetime=300.0,
                    loop=None,
                    connection_class=asyncpg.Connection,
                    record_class=asyncpg.Record,
                    **options,
                )
    return pool


async def retry_forever(op: Callable[[], Awaitable[T]], *, what: str) -> T:
    """Run `op` until it succeeds, backing off on transient errors; fatal errors propagate."""
    attempts = 0
    async for attempt in AsyncRetrying(
        retry=retry_if_exception(is_retryable),
        wait=wait_exponential_jitter(multiplier=0.05, max=5),
        reraise=True,
    ):
        with attempt:
            attempts += 1
            if attempts > 1:
                log.warning("retrying %s (attempt %d)", what, attempts)
            return await op()
    raise AssertionError("unreachable")


def migrations() -> list[tuple[int, str]]:
    folder = resources.files("projections") / "migrations"
    found = []
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            found.append((int(entry.name.split("_", 1)[0]), entry.read_text()))
    return sorted(found)


async def migrate(pool: asyncpg.Pool) -> list[int]:
    """Apply pending migrations in order, once, even with several processes starting together."""
    applied: list[int] = []
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _MIGRATION_LOCK)
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations "
            "(version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}
        for version, sql in migrations():
            if version in done:
                continue
            await conn.execute(sql)
            await conn.execute("INSERT INTO schema_migrations (version) VALUES ($1)", version)
            applied.append(version)
    return applied
