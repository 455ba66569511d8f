"""Prepares the backbone before any process uses it: topics exist and the schema is migrated."""

from __future__ import annotations

import logging

import asyncpg

from infra.kafka import ensure_topics, list_topics, recreate_misshapen
from infra.key_files import secrets_key
from pipeline.assistants.tool_secrets import SecretBox
from pipeline.settings import Settings
from pipeline.topics import ALL_TOPICS, LOG_MARK
from projections import outbox
from projections.chat import assistants
from projections.db import create_pool, migrate
from projections.tracking import reset_tracking

# Whether the database had seen the broker's log mark before, noting that it has now.
MARKED = """
WITH before AS (SELECT log_marked FROM outbox_relay)
UPDATE outbox_relay SET log_marked = true RETURNING (SELECT log_marked FROM before)
"""
RECORD_LOSS = """
INSERT INTO broker_log_losses (topics, forgotten_offsets, outbox_republished) VALUES ($1, $2, $3)
"""

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
        resealed = await assistants.seal_plain_secrets(pool, SecretBox(secrets_key(settings)))
        if resealed:
            log.info("sealed the plain-text tool secrets of %d assistants", resealed)
        await _new_log(settings, pool, await _renewed(pool, created))
    finally:
        await pool.close()


async def check_log(settings: Settings, pool: asyncpg.Pool) -> bool:
    """While running: if the broker's log is new (it restarted empty), recover as `prepare` would.
    Returns whether it was new."""
    if LOG_MARK in await list_topics(settings.bootstrap_servers):
        return False
    created = await ensure_topics(settings.bootstrap_servers, ALL_TOPICS, settings.partitions)
    if LOG_MARK not in created:
        return False  # another worker found it first and recovers
    log.error("the broker's log is new: it restarted and lost what it held")
    renewed = await _renewed(pool, created)
    if settings.uses_outbox:  # whatever the new log holds is in the outbox too, or produced again
        await recreate_misshapen(settings.bootstrap_servers, renewed, settings.partitions)
    await _new_log(settings, pool, renewed)
    return True


async def _renewed(pool: asyncpg.Pool, created: list[str]) -> list[str]:
    """The topics whose log is new: every one when the mark was created where it had been before
    (topics a broker created on first use are new too), else the ones just created."""
    marked = await pool.fetchval(MARKED)
    data = [t for t in ALL_TOPICS if t != LOG_MARK]
    return data if LOG_MARK in created and marked else [t for t in created if t != LOG_MARK]


async def _new_log(settings: Settings, pool: asyncpg.Pool, created: list[str]) -> None:
    """The broker's log of `created` is new: forget the old log's offsets and, with the outbox, publish
    every acknowledged record not yet applied again. Said loudly when the old log held anything."""
    if not created:
        return
    async with pool.acquire() as conn, conn.transaction():
        forgotten = await reset_tracking(conn, created)
        unapplied = await outbox.pending(conn)
        if settings.uses_outbox:
            await outbox.rewind(conn)  # also when nothing is tracked: the lost log may have held rows
        if forgotten or unapplied:
            await conn.execute(RECORD_LOSS, created, forgotten, unapplied if settings.uses_outbox else None)
    if not forgotten and not unapplied:
        return
    if not settings.uses_outbox:
        log.error(
            "the broker lost its log of %s (projections held %d partitions' offsets of an earlier log): "
            "records it held that no worker had applied are lost. Use a replicated Kafka, or the outbox "
            "(REVOS_OUTBOX=on), to keep acknowledged records through a broker restart",
            ", ".join(created),
            forgotten,
        )
    elif unapplied:
        log.error(
            "the broker lost its log of %s; %d acknowledged records not yet applied are kept in the "
            "outbox and published again",
            ", ".join(created),
            unapplied,
        )
    else:
        log.info("new broker log for %s; every acknowledged record had been applied", ", ".join(created))
