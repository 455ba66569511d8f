"""The transactional outbox: acknowledged records kept in PostgreSQL until a projection applied them.

The gateway's publisher commits records here and answers; the worker's relay publishes them to the
broker in commit order; the transaction that applies a record deletes its row. A row still here is a
promise not yet kept, so a broker that lost its log is given every remaining row again.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass

import asyncpg

from infra.kafka import KafkaPublisher
from pipeline.admin.audit_topic import AuditFirst
from pipeline.publishing import Delivered, Outgoing, Publisher
from pipeline.settings import Settings
from pipeline.topics import OUTBOX_ID

COLUMNS = ("topic", "partition", "key", "value", "header_names", "header_values")

# Rows of transactions that have all ended (below every running transaction's id), after the cursor:
# a transaction that commits late with lower ids is still ahead of the cursor when it becomes visible.
AFTER = """
SELECT id, txid, topic, partition, key, value, header_names, header_values FROM outbox
WHERE txid < pg_snapshot_xmin(pg_current_snapshot()) AND (txid, id) > ($1::xid8, $2::bigint)
ORDER BY txid, id LIMIT $3
"""
CURSOR = "SELECT txid, last_id FROM outbox_relay"
ORIGIN = "SELECT origin::text FROM outbox_relay"
ADVANCE = """
UPDATE outbox_relay SET txid = $1::xid8, last_id = $2
WHERE txid = $3::xid8 AND last_id = $4
"""
REWIND = "UPDATE outbox_relay SET txid = '0', last_id = 0, rewound_at = now()"
TAKE = "DELETE FROM outbox WHERE id = ANY($1::bigint[]) RETURNING id"
PENDING = "SELECT count(*) FROM outbox WHERE NOT regenerable"


@dataclass(frozen=True, slots=True)
class Cursor:
    """The last row the relay published: commit order is (txid, id)."""

    txid: int = 0
    last_id: int = 0


def _row(record: Outgoing) -> tuple[object, ...]:
    return (
        record.topic,
        record.partition,
        record.key,
        record.value,
        [name for name, _ in record.headers],
        [value for _, value in record.headers],
    )


async def add(conn: asyncpg.Connection, records: Sequence[Outgoing], *, regenerable: bool = False) -> None:
    """Keep `records` in the outbox; durable when the caller's transaction commits. `regenerable`: the
    scheduler's, which nobody waits for (they are made again from PostgreSQL's state if lost)."""
    if records:
        rows = [(*_row(r), regenerable) for r in records]
        await conn.copy_records_to_table("outbox", records=rows, columns=(*COLUMNS, "regenerable"))


async def origin(conn: asyncpg.Connection | asyncpg.Pool) -> str:
    """The name of this database's outbox, carried by every record its relay publishes."""
    found: str = await conn.fetchval(ORIGIN)
    return found


def outbox_id(headers: Iterable[tuple[str, bytes]], own: str) -> int | None:
    """The row of this database's outbox (named `own`) a consumed record was published from, if any."""
    for name, value in headers:
        if name == OUTBOX_ID:
            source, _, row = value.decode(errors="replace").partition(":")
            return int(row) if source == own and row.isdigit() else None
    return None


async def take(conn: asyncpg.Connection, ids: Sequence[int]) -> set[int]:
    """Delete the rows of records being applied; returns those still there (the others were applied)."""
    return {r["id"] for r in await conn.fetch(TAKE, list(ids))}


async def pending(pool_or_conn: asyncpg.Pool | asyncpg.Connection) -> int:
    """How many acknowledged records no projection has applied yet (the scheduler's aside)."""
    found: int = await pool_or_conn.fetchval(PENDING)
    return found


async def cursor(conn: asyncpg.Connection) -> Cursor:
    row = await conn.fetchrow(CURSOR)
    return Cursor() if row is None else Cursor(row["txid"], row["last_id"])


async def after(conn: asyncpg.Connection, at: Cursor, limit: int) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(AFTER, at.txid, at.last_id, limit)
    return rows


async def advance(conn: asyncpg.Connection, old: Cursor, new: Cursor) -> bool:
    """Move the cursor unless someone rewound it meanwhile (then the caller reloads it)."""
    status: str = await conn.execute(ADVANCE, new.txid, new.last_id, old.txid, old.last_id)
    return status.endswith(" 1")


async def rewind(conn: asyncpg.Connection | asyncpg.Pool) -> None:
    """Publish every remaining row again: the broker's log is new."""
    await conn.execute(REWIND)


def outgoing(row: asyncpg.Record, own: str) -> Outgoing:
    """The record a row holds, marked with the outbox's name and the row's id."""
    headers = tuple(zip(row["header_names"], row["header_values"], strict=True))
    return Outgoing(
        topic=row["topic"],
        value=bytes(row["value"]),
        key=None if row["key"] is None else bytes(row["key"]),
        partition=row["partition"],
        headers=(*headers, (OUTBOX_ID, f"{own}:{row['id']}".encode())),
    )


class OutboxPublisher:
    """A Publisher whose acknowledgement is a PostgreSQL commit; the worker's relay does the rest.

    `partitions` still asks the broker, which knows how many a topic has.
    """

    def __init__(self, pool: asyncpg.Pool, broker: Publisher, *, acquire_timeout: float = 10.0) -> None:
        self._pool = pool
        self._broker = broker
        self._acquire_timeout = acquire_timeout

    async def publish(self, records: Sequence[Outgoing]) -> list[Delivered]:
        if records:
            async with self._pool.acquire(timeout=self._acquire_timeout) as conn:
                await add(conn, records)
        return []  # durable, not yet in the broker: there is no offset to report

    async def partitions(self, topic: str) -> list[int]:
        return await self._broker.partitions(topic)


@contextlib.asynccontextmanager
async def open_publisher(settings: Settings, pool: asyncpg.Pool) -> AsyncIterator[Publisher]:
    """The publisher an acknowledgement needs under `settings`: the outbox, or the broker itself."""
    broker = KafkaPublisher(settings.bootstrap_servers)
    await broker.start()
    try:
        yield OutboxPublisher(pool, broker) if settings.uses_outbox else AuditFirst(broker)
    finally:
        await broker.stop()


LOSSES = """
SELECT count(*) AS n, max(found_at) AS last_at,
       (SELECT outbox_republished FROM broker_log_losses ORDER BY id DESC LIMIT 1) AS last_republished
FROM broker_log_losses
"""


async def delivery_status(dsn: str) -> dict[str, object]:
    """For `revos infra status`: records not yet applied, and how often the broker lost its log."""
    conn = await asyncpg.connect(dsn)
    try:
        losses = await conn.fetchrow(LOSSES)
        return {
            "reachable": True,
            "unapplied": await pending(conn),
            "broker_log_losses": losses["n"],
            "last_broker_log_loss": None if losses["last_at"] is None else losses["last_at"].isoformat(),
            "last_republished": losses["last_republished"],
        }
    finally:
        await conn.close()
