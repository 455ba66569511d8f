"""Prepares the backbone before any process uses it: topics exist and the schema is migrated."""

from __future__ import annotations

import logging

from pipeline.kafka import ensure_topics
from pipeline.settings import Settings
from pipeline.topics import ALL_TOPICS
from projections.db import create_pool, migrate

log = logging.getLogger(__name__)


async def prepare(settings: Settings) -> None:
    """Create missing topics and apply pending migrations; safe to run from several processes."""
    await ensure_topics(settings.bootstrap_servers, ALL_TOPICS, settings.partitions)
    pool = await create_pool(settings.dsn, min_size=1, max_size=1)
    try:
        applied = await migrate(pool)
        if applied:
            log.info("applied migrations %s", applied)
    finally:
        await pool.close()
