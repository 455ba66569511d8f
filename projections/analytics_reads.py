"""What the dashboard's usage charts read: credits per UTC day from the daily rollup, a customer's balance
at the end of each day from the ledger, conversations per day per agent. Every query is scoped to a tenant;
`first` and `last` are UTC days, both included."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Literal

import asyncpg

Dimension = Literal["customer", "type"]

# The `top` keys of the range by credits; the rest are summed under a NULL key ("others").
_CREDITS_BY_DAY = """
WITH ranged AS (
    SELECT day, {key} AS key, credits FROM usage_daily WHERE tenant_id = $1 AND day BETWEEN $2 AND $3
), top AS (
    SELECT key FROM ranged GROUP BY key ORDER BY sum(credits) DESC, key LIMIT $4
)
SELECT r.day, t.key, sum(r.credits) AS credits
FROM ranged r LEFT JOIN top t ON t.key = r.key
GROUP BY r.day, t.key
"""
CREDITS_BY_DAY: dict[Dimension, str] = {
    "customer": _CREDITS_BY_DAY.format(key="customer"),
    "type": _CREDITS_BY_DAY.format(key="type"),
}

TOP_CUSTOMERS = """
SELECT customer, sum(credits) AS credits, sum(events)::bigint AS events
FROM usage_daily WHERE tenant_id = $1 AND day BETWEEN $2 AND $3
GROUP BY customer HAVING sum(events) > 0  -- a customer whose usage was all voided burned nothing
ORDER BY credits DESC, customer LIMIT $4
"""

# A balance at a moment is the sum of the movements in effect by then (each ledger entry's `balance` is the
# running sum in the order they were recorded, which is not their order in time when events come late).
# A movement's `at` is when it takes effect: an event's own time, a grant's effective time.
OPENING_BALANCE = "SELECT sum(amount) FROM ledger_entries WHERE tenant_id = $1 AND customer = $2 AND at < $3"
MOVED_BY_DAY = """
SELECT (at AT TIME ZONE 'UTC')::date AS day, sum(amount) AS moved
FROM ledger_entries WHERE tenant_id = $1 AND customer = $2 AND at >= $3 AND at < $4
GROUP BY day ORDER BY day
"""

# An agent deleted since keeps its name for the conversations it had.
CONVERSATIONS_BY_DAY = """
SELECT (c.started_at AT TIME ZONE 'UTC')::date AS day, c.agent_id, a.name, count(*) AS conversations
FROM conversations c LEFT JOIN assistants a ON a.tenant_id = c.tenant_id AND a.agent_id = c.agent_id
WHERE c.tenant_id = $1 AND c.started_at >= $2 AND c.started_at < $3
GROUP BY day, c.agent_id, a.name
"""


def _start(day: date) -> datetime:
    return datetime.combine(day, time(), UTC)


async def credits_by_day(
    pool: asyncpg.Pool, tenant_id: str, first: date, last: date, *, by: Dimension, top: int
) -> list[tuple[date, str | None, Decimal]]:
    """(day, customer or type, credits) of the days with usage; the key is None for the sum of the others."""
    rows = await pool.fetch(CREDITS_BY_DAY[by], tenant_id, first, last, top)
    return [(r["day"], r["key"], r["credits"]) for r in rows]


async def top_customers(
    pool: asyncpg.Pool, tenant_id: str, first: date, last: date, *, limit: int
) -> list[tuple[str, Decimal, int]]:
    """(customer, credits, events) of the customers who burned the most credits in the range."""
    rows = await pool.fetch(TOP_CUSTOMERS, tenant_id, first, last, limit)
    return [(r["customer"], r["credits"], r["events"]) for r in rows]


async def balance_by_day(
    pool: asyncpg.Pool, tenant_id: str, customer: str, first: date, last: date
) -> tuple[Decimal | None, list[tuple[date, Decimal]]]:
    """The balance before the range (None: no movement yet) and at the end of each day that had one."""
    start, end = _start(first), _start(last + timedelta(days=1))
    async with pool.acquire() as connection, connection.transaction(isolation="repeatable_read"):
        opening: Decimal | None = await connection.fetchval(OPENING_BALANCE, tenant_id, customer, start)
        rows = await connection.fetch(MOVED_BY_DAY, tenant_id, customer, start, end)
    closing, level = [], opening or Decimal(0)
    for row in rows:
        level += row["moved"]
        closing.append((row["day"], level))
    return opening, closing


async def conversations_by_day(
    pool: asyncpg.Pool, tenant_id: str, first: date, last: date
) -> list[tuple[date, str, str | None, int]]:
    """(day, agent id, agent name, conversations started) of the days with conversations."""
    start, end = _start(first), _start(last + timedelta(days=1))
    rows = await pool.fetch(CONVERSATIONS_BY_DAY, tenant_id, start, end)
    return [(r["day"], r["agent_id"], r["name"], r["conversations"]) for r in rows]
