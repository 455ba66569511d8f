"""Prepares the backbone before any process uses it: topics exist and the schema is migrated."""

from __future__ import annotations

import logging

from pipeline.kafka import ensure_topics
from pipeline.settings import Settings
from pipeline.topics import ALL_TOPICS
from projections.db import create_pool, migrate
from projections.tracking import reset_tracking

log = logging.getLogger(__name__)


async def prepare(settings: Settings) -> None:
    """Create missing topics and apply pending migrations; safe to run from several processes.

    A topic created here is a new, empty log (the embedded broker keeps nothing across restarts), so
    offsets tracked for an earlier log of that name are forgotten; the projections keep their state
    and every effect stays idempotent by record id, so nothing is applied twice.
    """
    created = await ensure_topics(settings.bootstrap_servers, ALL_TOPICS, settings.partitions)
    pool = await create_pool(settings.dsn, min_size=1, max_size=1)
    try:
        applied = await migrate(pool)
        if applied:
            log.info("applied migrations %s", applied)
        if created:
            forgotten = await reset_tracking(pool, created)
            if forgotten:
                log.warning(
                    "new log for %s: forgot %d tracked offsets of the previous log", created, forgotten
                )
    finally:
        await pool.close()
