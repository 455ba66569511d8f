"""The outbox relay: publishes acknowledged records from PostgreSQL to the broker, in commit order.

One worker at a time relays: it holds a PostgreSQL advisory lock on a connection of its own, and when
that worker dies another one's relay takes over within a second. A crash between publishing and saving
the cursor publishes a few records twice, which their outbox ids make harmless.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

import asyncpg

from pipeline.kafka import Publisher
from projections import outbox

log = logging.getLogger(__name__)

LOCK_KEY = 0x52454C59  # "RELY": one relay per database
BATCH = 5000
IDLE = 0.01  # seconds between looks at an outbox with nothing new


@dataclass(slots=True)
class OutboxRelay:
    pool: asyncpg.Pool
    publisher: Publisher
    batch: int = BATCH
    idle: float = IDLE
    relayed: int = 0  # records this relay published

    async def run(self) -> None:
        """Run until cancelled; errors are logged and the loop carries on."""
        while True:
            try:
                async with self.pool.acquire() as conn:
                    if not await conn.fetchval("SELECT pg_try_advisory_lock($1)", LOCK_KEY):
                        await asyncio.sleep(1.0)  # another worker relays; stand by
                        continue
                    try:
                        own = await outbox.origin(conn)
                        at = await outbox.cursor(conn)
                        while True:
                            at, sent = await self.once(conn, own, at)
                            if sent < self.batch:
                                await asyncio.sleep(self.idle)
                    finally:
                        await conn.execute("SELECT pg_advisory_unlock($1)", LOCK_KEY)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("outbox relay failed; retrying", exc_info=True)
                await asyncio.sleep(0.5)

    async def once(
        self, conn: asyncpg.Connection, own: str, at: outbox.Cursor
    ) -> tuple[outbox.Cursor, int]:
        """Publish the next rows after `at`; returns the new cursor and how many were published."""
        rows = await outbox.after(conn, at, self.batch)
        if not rows:
            return at, 0
        await self.publisher.publish([outbox.outgoing(r, own) for r in rows])
        last = rows[-1]
        moved = outbox.Cursor(last["txid"], last["id"])
        if not await outbox.advance(conn, at, moved):
            moved = await outbox.cursor(conn)  # rewound meanwhile: the broker's log is new
            log.info("outbox relay rewound; publishing every remaining record again")
        self.relayed += len(rows)
        return moved, len(rows)
