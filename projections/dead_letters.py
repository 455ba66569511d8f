"""The dead-letter projection: what failed, why, and how often it was replayed; read by `revos dlq` (every
dead letter) and by the API (a tenant's own: those without a tenant are the operator's)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import asyncpg

from pipeline.codec import Codec
from pipeline.dead_letters import replay_headers
from pipeline.publishing import Outgoing
from pipeline.records import DeadLetter, DeadLetterReplayed

INSERT = """
INSERT INTO dead_letters (dead_letter_id, topic, stage, code, error_class, message, stack, tenant_id, event_id,
    source_topic, source_partition, source_offset, source_timestamp, key, value, headers, attempts,
    replay_count, first_failed_at, last_failed_at, app_version, schema_fingerprint)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22)
ON CONFLICT (dead_letter_id) DO UPDATE
SET attempts = dead_letters.attempts + 1, last_failed_at = EXCLUDED.last_failed_at
"""

MARK_REPLAYED = """
UPDATE dead_letters SET replays = replays + 1, last_replayed_at = $2 WHERE dead_letter_id = $1
"""

LIST = """
SELECT dead_letter_id, topic, stage, code, message, tenant_id, event_id, source_topic, source_partition,
       source_offset, attempts, replay_count, replays, first_failed_at, last_failed_at
FROM dead_letters
WHERE ($1::timestamptz IS NULL OR last_failed_at >= $1) AND ($2::text IS NULL OR code = $2)
ORDER BY last_failed_at, dead_letter_id
LIMIT $3
"""

GET = "SELECT * FROM dead_letters WHERE dead_letter_id = $1"
ALL_IDS = (
    "SELECT dead_letter_id FROM dead_letters WHERE ($1::text IS NULL OR code = $1) ORDER BY last_failed_at"
)

# A tenant's own, newest first (by when each first failed, which never changes: stable pages).
TENANT_PAGE = """
SELECT dead_letter_id, stage, code, message, event_id, attempts, replay_count, replays,
       first_failed_at, last_failed_at, last_replayed_at
FROM dead_letters
WHERE tenant_id = $1 AND ($2::text IS NULL OR code = $2) AND ($3::text IS NULL OR stage = $3)
  AND ($4::timestamptz IS NULL OR (first_failed_at, dead_letter_id) < ($4, $5))
ORDER BY first_failed_at DESC, dead_letter_id DESC
LIMIT $6
"""
TENANT_COUNTS = """
SELECT code, count(*) AS count FROM dead_letters
WHERE tenant_id = $1 AND ($2::text IS NULL OR stage = $2)
GROUP BY code ORDER BY count(*) DESC, code
"""
TENANT_GET = "SELECT * FROM dead_letters WHERE tenant_id = $1 AND dead_letter_id = $2"
# Read your writes: the replay's note was applied.
REPLAYED = "SELECT 1 FROM dead_letters WHERE dead_letter_id = $1 AND replays > $2"


def printable(value: str | None) -> str | None:
    """PostgreSQL text cannot hold NUL; dead letters carry whatever failed, so escape it for display."""
    return None if value is None else value.replace("\x00", "\\x00")


def header_json(key: str, value: bytes) -> dict[str, str | None]:
    """A header as stored: exact hex for replay, and a readable form for people."""
    return {
        "key": printable(key),
        "value": printable(value.decode("utf-8", "backslashreplace")),
        "key_hex": key.encode("utf-8", "surrogatepass").hex(),
        "value_hex": value.hex(),
    }


def header_bytes(stored: dict[str, str]) -> tuple[str, bytes]:
    """The exact header a stored one was made from."""
    return bytes.fromhex(stored["key_hex"]).decode("utf-8", "surrogatepass"), bytes.fromhex(
        stored["value_hex"]
    )


async def record(conn: asyncpg.Connection, topic: str, d: DeadLetter) -> None:
    await conn.execute(
        INSERT,
        d.dead_letter_id,
        topic,
        printable(d.stage),
        printable(d.code),
        printable(d.error_class),
        printable(d.message),
        printable(d.stack),
        printable(d.tenant_id),
        printable(d.event_id),
        d.source_topic,
        d.source_partition,
        d.source_offset,
        d.source_timestamp,
        d.key,
        d.value,
        [header_json(h.key, h.value) for h in d.headers],
        d.attempts,
        d.replay_count,
        d.first_failed_at,
        d.last_failed_at,
        d.app_version,
        d.schema_fingerprint,
    )


async def mark_replayed(conn: asyncpg.Connection, r: DeadLetterReplayed) -> None:
    await conn.execute(MARK_REPLAYED, r.dead_letter_id, r.occurred_at)


async def list_dead_letters(
    pool: asyncpg.Pool, *, since: datetime | None = None, code: str | None = None, limit: int = 1000
) -> list[dict[str, Any]]:
    return [dict(r) for r in await pool.fetch(LIST, since, code, limit)]


async def get(pool: asyncpg.Pool, dead_letter_id: str) -> dict[str, Any] | None:
    row = await pool.fetchrow(GET, dead_letter_id)
    return None if row is None else dict(row)


async def all_ids(pool: asyncpg.Pool, code: str | None = None) -> list[str]:
    return [r["dead_letter_id"] for r in await pool.fetch(ALL_IDS, code)]


async def tenant_page(
    pool: asyncpg.Pool,
    tenant_id: str,
    *,
    code: str | None,
    stage: str | None,
    before: tuple[datetime, str] | None,
    limit: int,
) -> list[dict[str, Any]]:
    at, dead_letter_id = before if before else (None, None)
    rows = await pool.fetch(TENANT_PAGE, tenant_id, code, stage, at, dead_letter_id, limit)
    return [dict(r) for r in rows]


async def tenant_counts(pool: asyncpg.Pool, tenant_id: str, *, stage: str | None) -> dict[str, int]:
    """How many of the tenant's dead letters each code has, most first."""
    return {r["code"]: r["count"] for r in await pool.fetch(TENANT_COUNTS, tenant_id, stage)}


async def tenant_get(pool: asyncpg.Pool, tenant_id: str, dead_letter_id: str) -> dict[str, Any] | None:
    """One of the tenant's dead letters; another tenant's, or the operator's, is None like a missing one."""
    row = await pool.fetchrow(TENANT_GET, tenant_id, dead_letter_id)
    return None if row is None else dict(row)


# Replays: the original record again, then the note that it was replayed (the `replays` count).


def original_again(row: Mapping[str, Any]) -> Outgoing:
    """A stored dead letter's original record, to its source topic under its key, marked as a replay."""
    original = [header_bytes(h) for h in row["headers"]]
    return Outgoing(
        row["source_topic"],
        bytes(row["value"]),
        key=None if row["key"] is None else bytes(row["key"]),
        headers=replay_headers(original, row["dead_letter_id"], row["replay_count"]),
    )


def replay_note(
    codec: Codec, row: Mapping[str, Any], *, target_topic: str, actor: str, now: datetime
) -> Outgoing:
    """The note, on the dead letter's own topic, that its record went to `target_topic` again."""
    note = DeadLetterReplayed(row["dead_letter_id"], target_topic, actor, now)
    return Outgoing(row["topic"], codec.encode(note), key=row["dead_letter_id"].encode())
