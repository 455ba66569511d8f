"""The outbox relay: publishes acknowledged records from PostgreSQL to the broker, in commit order.

One worker at a time relays (`agents.leader`). A crash between publishing and saving
the cursor publishes a few records twice, which their outbox ids make harmless.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from dataclasses import dataclass

import asyncpg

from agents.leader import lead
from infra.kafka import KafkaPublisher
from pipeline.publishing import Publisher
from pipeline.settings import Settings
from projections import outbox
from projections.db import create_pool

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
            return await outbox.cursor(conn), 0  # where it was, unless rewound meanwhile
        await self.publisher.publish([outbox.outgoing(r, own) for r in rows])
        last = rows[-1]
        moved = outbox.Cursor(last["txid"], last["id"])
        if not await outbox.advance(conn, at, moved):
            moved = await outbox.cursor(conn)  # rewound meanwhile: the broker's log is new
            log.info("outbox relay rewound; publishing every remaining record again")
        self.relayed += len(rows)
        return moved, len(rows)


async def run_relay(settings: Settings) -> None:
    """The relay as a process of its own (`revos relay`), until SIGTERM or SIGINT: it takes the relay's
    work off the workers, whose own relays stand by and take over if this process dies."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    publisher = KafkaPublisher(settings.bootstrap_servers)
    await publisher.start()
    pool = await create_pool(settings.dsn, min_size=1, max_size=1)
    relay = asyncio.create_task(OutboxRelay(pool, publisher).run())
    try:
        await stop.wait()
    finally:
        relay.cancel()
        await asyncio.gather(relay, return_exceptions=True)
        await pool.close()
        await publisher.stop()
