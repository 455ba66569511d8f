"""The outbox relay: publishes acknowledged records from PostgreSQL to the broker, in commit order.

One worker at a time relays (`agents.leader`). A crash between publishing and saving
the cursor publishes a few records twice, which their outbox ids make harmless.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

import asyncpg

from agents.leader import lead
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
        """Run until cancelled, while this worker leads; errors are logged and the loop carries on."""
        await lead(self.pool, LOCK_KEY, self._relay, what="outbox relay", pause=0.5)

    async def _relay(self, conn: asyncpg.Connection) -> None:
        own = await outbox.origin(conn)
        at = await outbox.cursor(conn)
        while True:
            at, sent = await self.once(conn, own, at)
            if sent < self.batch:
                await asyncio.sleep(self.idle)

    async def once(self, conn: asyncpg.Connection, own: str, at: outbox.Cursor) -> tuple[outbox.Cursor, int]:
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
