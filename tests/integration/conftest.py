"""Integration fixtures: a migrated database with a pool and a producer, and private billing topics."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import asyncpg
import pytest

from agents.runner import Runtime
from infra.kafka import KafkaPublisher, ensure_topics
from pipeline.codec import default_codec
from projections.db import create_pool, migrate


@pytest.fixture
async def pool(database: str) -> AsyncIterator[asyncpg.Pool]:
    """A pool on the test's migrated database (a module needing other pool limits defines its own)."""
    opened = await create_pool(database, max_size=4)
    await migrate(opened)
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture
async def runtime(broker, database) -> AsyncIterator[Runtime]:  # type: ignore[no-untyped-def]
    """What a stream processor runs with, on the test's own database and the session's broker."""
    pool = await create_pool(database, max_size=6)
    await migrate(pool)
    publisher = KafkaPublisher(broker.bootstrap_servers)
    await publisher.start()
    try:
        yield Runtime(pool=pool, publisher=publisher, codec=default_codec())
    finally:
        await publisher.stop()
        await pool.close()


@pytest.fixture
def new_topic(broker) -> Callable[[int], Awaitable[str]]:  # type: ignore[no-untyped-def]
    """Creates a billing topic (and its dead-letter topic) no other test uses, with `n` partitions."""

    async def create(partitions: int) -> str:
        name = f"it-{uuid.uuid4().hex[:8]}.billing"
        await ensure_topics(broker.bootstrap_servers, [name, name + ".dlq"], partitions)
        return name

    return create
