"""Tracking: which offsets of which partition a projection has applied, in the same transaction."""

from __future__ import annotations

import asyncpg

LOCK_PARTITION = "SELECT pg_advisory_xact_lock(hashtext($1), $2)"
NEXT_OFFSET = "SELECT next_offset FROM stream_offsets WHERE consumer = $1 AND topic = $2 AND partition = $3"
SAVE_OFFSET = """
INSERT INTO stream_offsets (consumer, topic, partition, next_offset) VALUES ($1, $2, $3, $4)
ON CONFLICT (consumer, topic, partition) DO UPDATE SET next_offset = EXCLUDED.next_offset
"""


async def claim(conn: asyncpg.Connection, consumer: str, topic: str, partition: int) -> int:
    """Lock the partition for this transaction and return the first offset not yet applied."""
    await conn.execute(LOCK_PARTITION, f"{consumer}|{topic}", partition)
    found: int | None = await conn.fetchval(NEXT_OFFSET, consumer, topic, partition)
    return 0 if found is None else found


async def advance(
    conn: asyncpg.Connection, consumer: str, topic: str, partition: int, next_offset: int
) -> None:
    await conn.execute(SAVE_OFFSET, consumer, topic, partition, next_offset)


async def reset_tracking(pool: asyncpg.Pool | asyncpg.Connection, topics: list[str]) -> int:
    """Forget every offset tracked for `topics` (their log was recreated); returns how many rows."""
    status: str = await pool.execute("DELETE FROM stream_offsets WHERE topic = ANY($1::text[])", topics)
    return int(status.split()[-1])
