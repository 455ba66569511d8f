"""Time-driven records: grant expiries produced at `expires_at`, and watermarks on every partition.

Expiry is an event in the log, not something computed at read time, so ledgers and balances show
it as an entry and replays agree. One worker at a time runs the scheduler: it holds a Postgres
advisory lock on a connection of its own, and when that worker dies the lock goes with its
connection and another worker's scheduler takes over within a second.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

import asyncpg

from agents import metrics
from agents.leader import lead
from pipeline.codec import Codec
from pipeline.publishing import Outgoing, Publisher
from pipeline.records import CreditsExpired, Watermark
from pipeline.topics import BILLING, customer_key
from projections import outbox

log = logging.getLogger(__name__)

LOCK_KEY = 0x52455653  # "REVS": one scheduler per database
TICK = 0.25  # seconds between watermarks and expiry scans
RESEND_AFTER = 5.0  # an expiry not yet applied after this long is produced again
SCAN_LIMIT = 1000

DUE = """
SELECT tenant_id, customer, grant_id, expires_at FROM grants
WHERE status = 'active' AND expires_at IS NOT NULL AND expires_at <= $1
ORDER BY expires_at LIMIT $2
"""


def expiry_record(
    tenant_id: str, customer: str, grant_id: str, expires_at: datetime, now: datetime
) -> CreditsExpired:
    """The expiry of one grant; its id is derived from the grant, so producing it twice is harmless."""
    return CreditsExpired(
        event_id=f"exp:{customer}:{grant_id}",
        tenant_id=tenant_id,
        customer=customer,
        grant_id=grant_id,
        expires_at=expires_at,
        occurred_at=now,
    )


@dataclass(slots=True)
class Scheduler:
    pool: asyncpg.Pool
    publisher: Publisher
    codec: Codec
    tick: float = TICK
    topic: str = BILLING
    ticks: int = 0  # how many ticks this scheduler ran (it stands by while another holds the lock)
    # With the outbox, its records go there too: a watermark then follows, in the log, every record
    # acknowledged before it, so a check's `as_of` never claims what is still in the outbox.
    outbox: bool = False
    _sent: dict[tuple[str, str, str], float] = field(default_factory=dict)

    async def run(self) -> None:
        """Run until cancelled, while this worker leads; errors are logged and the loop carries on."""
        await lead(self.pool, LOCK_KEY, self._ticks, what="scheduler tick")

    async def _ticks(self, conn: asyncpg.Connection) -> None:
        while True:
            started = time.monotonic()
            await self.once(conn)
            metrics.ticked()
            await asyncio.sleep(max(0.0, self.tick - (time.monotonic() - started)))

    async def once(self, conn: asyncpg.Connection) -> int:
        """One tick: a watermark on every billing partition and the expiries now due. Returns how
        many expiries were produced."""
        now = datetime.now(UTC)
        mark = self.codec.encode(Watermark(emitted_at=now))
        out = [Outgoing(self.topic, mark, partition=p) for p in await self.publisher.partitions(self.topic)]
        clock = time.monotonic()
        expiries = 0
        for r in await conn.fetch(DUE, now, SCAN_LIMIT):
            key = (r["tenant_id"], r["customer"], r["grant_id"])
            if clock - self._sent.get(key, -RESEND_AFTER) < RESEND_AFTER:
                continue  # produced moments ago; the projection has not applied it yet
            self._sent[key] = clock
            record = expiry_record(r["tenant_id"], r["customer"], r["grant_id"], r["expires_at"], now)
            out.append(Outgoing(self.topic, self.codec.encode(record), key=customer_key(*key[:2])))
            expiries += 1
        if self.outbox:
            await outbox.add(conn, out, regenerable=True)
        else:
            await self.publisher.publish(out)
        self.ticks += 1
        for key in [k for k, at in self._sent.items() if clock - at > RESEND_AFTER * 2]:
            del self._sent[key]
        return expiries
