"""The two statements that write charges, and the usage rollups they keep (migration 031).

The rollups, `usage_hourly` and `usage_daily`, are added to in the statement that changes the charges, so
they are exact, written in the transaction that advances the offset, and rebuilt with the charges. Called by
the billing writer (projections/billing/writer.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import asyncpg
import orjson

from pipeline.billing.ledger import Allocation
from pipeline.billing.state import Charge

# The usage rollups (migration 031) take what a statement changed in charges as rows of signed
# contributions, `d` (tenant_id, customer, type, event_time, events, quantity, credits, cost), and add their
# sums per bucket; keys in order, so two transactions lock shared rows in the same order.
_ROLLUP = """
, hourly AS (
    INSERT INTO usage_hourly AS r (tenant_id, customer, type, hour, events, quantity, credits, cost)
    SELECT tenant_id, customer, type, date_trunc('hour', event_time, 'UTC'), sum(events), sum(quantity),
           sum(credits), sum(cost)
    FROM d GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
    ON CONFLICT (tenant_id, customer, type, hour) DO UPDATE
    SET events = r.events + EXCLUDED.events, quantity = r.quantity + EXCLUDED.quantity,
        credits = r.credits + EXCLUDED.credits, cost = r.cost + EXCLUDED.cost
)
INSERT INTO usage_daily AS r (tenant_id, customer, type, day, events, quantity, credits, cost)
SELECT tenant_id, customer, type, (event_time AT TIME ZONE 'UTC')::date, sum(events), sum(quantity),
       sum(credits), sum(cost)
FROM d GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
ON CONFLICT (tenant_id, customer, type, day) DO UPDATE
SET events = r.events + EXCLUDED.events, quantity = r.quantity + EXCLUDED.quantity,
    credits = r.credits + EXCLUDED.credits, cost = r.cost + EXCLUDED.cost
"""

# A row's contribution to the rollups: nothing once voided.
_CONTRIBUTION = """tenant_id, customer, type, event_time,
    CASE WHEN status = 'voided' THEN 0 ELSE {sign} END AS events,
    CASE WHEN status = 'voided' THEN 0 ELSE {sign} * quantity END AS quantity,
    CASE WHEN status = 'voided' THEN 0 ELSE {sign} * credits END AS credits,
    CASE WHEN status = 'voided' THEN 0 ELSE {sign} * COALESCE(cost, 0) END AS cost"""

# Charges only the rows inserted (a redelivered event is not) count in the rollups.
INSERT_CHARGES = f"""
WITH d AS (
    INSERT INTO charges (tenant_id, event_id, customer, type, quantity, credits, cost, burn_table,
                         burn_table_version, event_time, received_at, allocations, "offset", topic, partition,
                         properties)
    SELECT u.t, u.e, u.c, u.ty, u.q, u.cr, u.co, u.bt, u.bv, u.et, u.ra, u.al::jsonb, u.o, $14::text,
           $15::integer, u.pr::jsonb
    FROM unnest(
        $1::text[], $2::text[], $3::text[], $4::text[], $5::numeric[], $6::numeric[], $7::numeric[],
        $8::text[], $9::integer[], $10::timestamptz[], $11::timestamptz[], $12::text[], $13::bigint[],
        $16::text[]
    ) AS u (t, e, c, ty, q, cr, co, bt, bv, et, ra, al, o, pr)
    ON CONFLICT (tenant_id, event_id) DO NOTHING
    RETURNING {_CONTRIBUTION.format(sign=1)}
){_ROLLUP}"""

# A correction rewrites charges; the rollups take each row's new contribution less its old one (every
# part of one statement reads the same snapshot, so `before` sees the rows as they were).
UPDATE_CHARGES = f"""
WITH u AS (
    SELECT * FROM unnest($1::text[], $2::text[], $3::numeric[], $4::text[], $5::numeric[], $6::numeric[],
                         $7::text[], $8::text[]) AS u (t, e, q, pr, cr, co, al, st)
), before AS (
    SELECT {_CONTRIBUTION.format(sign=-1)}
    FROM charges c JOIN u ON c.tenant_id = u.t AND c.event_id = u.e
), after AS (
    UPDATE charges c SET
        original = COALESCE(c.original, jsonb_build_object(
            'quantity', c.quantity::text, 'credits', c.credits::text, 'cost', c.cost::text,
            'properties', c.properties)),
        quantity = u.q, properties = u.pr::jsonb, credits = u.cr, cost = u.co, allocations = u.al::jsonb,
        status = u.st, corrected_at = clock_timestamp()
    FROM u
    WHERE c.tenant_id = u.t AND c.event_id = u.e
    RETURNING {_CONTRIBUTION.format(sign=1)}
), d AS (
    SELECT * FROM before UNION ALL SELECT * FROM after
){_ROLLUP}"""


async def insert(conn: asyncpg.Connection, charges: Sequence[Charge], *, topic: str, partition: int) -> None:
    """New charges (one already written is left as it is) and their usage."""
    await conn.execute(
        INSERT_CHARGES,
        [x.tenant_id for x in charges],
        [x.event_id for x in charges],
        [x.customer for x in charges],
        [x.type for x in charges],
        [x.quantity for x in charges],
        [x.credits for x in charges],
        [x.cost for x in charges],
        [x.burn_table for x in charges],
        [x.burn_table_version for x in charges],
        [x.event_time for x in charges],
        [x.received_at for x in charges],
        [_allocations_json(x.allocations) for x in charges],
        [x.offset for x in charges],
        topic,
        partition,
        [orjson.dumps(x.properties).decode() for x in charges],
    )


async def correct(conn: asyncpg.Connection, charges: Sequence[Charge]) -> None:
    """Charges as a void or an amend left them, and the difference in their usage."""
    await conn.execute(
        UPDATE_CHARGES,
        [x.tenant_id for x in charges],
        [x.event_id for x in charges],
        [x.quantity for x in charges],
        [orjson.dumps(x.properties).decode() for x in charges],
        [x.credits for x in charges],
        [x.cost for x in charges],
        [_allocations_json(x.allocations) for x in charges],
        [x.status for x in charges],
    )


def _allocations_json(allocations: Iterable[Allocation]) -> str:
    return orjson.dumps([{"grant_id": a.grant_id, "credits": str(a.credits)} for a in allocations]).decode()
