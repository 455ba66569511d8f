"""The billing projection: loads what the fold needs and writes its result with the offset, atomically."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import asyncpg
import orjson

from pipeline.billing import AccountKey, BatchResult, PartitionState
from pipeline.ledger import Account, Allocation, Grant
from pipeline.records import BurnRule, BurnTablePublished

LOAD_CATALOG = """
SELECT v.* FROM burn_table_versions v
JOIN burn_table_partitions p USING (tenant_id, name, version)
WHERE p.topic = $1 AND p.partition = $2
ORDER BY v.tenant_id, v.name, v.version
"""

LOAD_ACCOUNTS = """
SELECT k.tenant_id, k.customer, c.debt, c.burn_table, c.credit_limit
FROM unnest($1::text[], $2::text[]) AS k (tenant_id, customer)
LEFT JOIN customers c USING (tenant_id, customer)
"""

LOAD_GRANTS = """
SELECT g.tenant_id, g.customer, g.grant_id, g.amount, g.remaining, g.priority, g.effective_at, g.expires_at
FROM unnest($1::text[], $2::text[]) AS k (tenant_id, customer)
JOIN grants g USING (tenant_id, customer)
ORDER BY g.tenant_id, g.customer, g.granted_at, g.grant_id
"""

LOAD_CHARGED = """
SELECT c.tenant_id, c.event_id, c.customer
FROM unnest($1::text[], $2::text[]) AS k (tenant_id, event_id)
JOIN charges c USING (tenant_id, event_id)
"""

INSERT_CHARGES = """
INSERT INTO charges (tenant_id, event_id, customer, type, quantity, credits, cost, burn_table,
                     burn_table_version, event_time, received_at, allocations, "offset", topic, partition)
SELECT u.t, u.e, u.c, u.ty, u.q, u.cr, u.co, u.bt, u.bv, u.et, u.ra, u.al::jsonb, u.o, $14::text, $15::integer
FROM unnest(
    $1::text[], $2::text[], $3::text[], $4::text[], $5::numeric[], $6::numeric[], $7::numeric[],
    $8::text[], $9::integer[], $10::timestamptz[], $11::timestamptz[], $12::text[], $13::bigint[]
) AS u (t, e, c, ty, q, cr, co, bt, bv, et, ra, al, o)
ON CONFLICT (tenant_id, event_id) DO NOTHING
"""

INSERT_GRANTS = """
INSERT INTO grants (tenant_id, customer, grant_id, amount, remaining, priority, effective_at, expires_at,
                    reason, granted_at, granted_by, event_id)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::numeric[], $4::numeric[], $5::integer[],
                     $6::timestamptz[], $7::timestamptz[], $8::text[], $9::timestamptz[], $10::text[],
                     $11::text[])
ON CONFLICT (tenant_id, customer, grant_id) DO NOTHING
"""

UPDATE_REMAINING = """
UPDATE grants g SET remaining = u.remaining
FROM unnest($1::text[], $2::text[], $3::text[], $4::numeric[]) AS u (tenant_id, customer, grant_id, remaining)
WHERE g.tenant_id = u.tenant_id AND g.customer = u.customer AND g.grant_id = u.grant_id
  AND g.remaining IS DISTINCT FROM u.remaining
"""

UPSERT_CUSTOMERS = """
INSERT INTO customers (tenant_id, customer, debt, burn_table, credit_limit, updated_at)
SELECT u.tenant_id, u.customer, u.debt, u.burn_table, u.credit_limit, clock_timestamp()
FROM unnest($1::text[], $2::text[], $3::numeric[], $4::text[], $5::numeric[])
    AS u (tenant_id, customer, debt, burn_table, credit_limit)
ON CONFLICT (tenant_id, customer) DO UPDATE
SET debt = EXCLUDED.debt, burn_table = EXCLUDED.burn_table, credit_limit = EXCLUDED.credit_limit,
    updated_at = EXCLUDED.updated_at
"""

SET_METADATA = """
UPDATE customers SET metadata = $3, settings_event_id = $4 WHERE tenant_id = $1 AND customer = $2
"""

INSERT_VERSION = """
INSERT INTO burn_table_versions (tenant_id, name, version, effective_at, rules, event_id, published_at,
                                 published_by)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
ON CONFLICT (tenant_id, name, version) DO NOTHING
"""

INSERT_VERSION_SEEN = """
INSERT INTO burn_table_partitions (tenant_id, name, version, topic, partition) VALUES ($1, $2, $3, $4, $5)
ON CONFLICT DO NOTHING
"""


def rules_to_json(rules: Iterable[BurnRule]) -> list[dict[str, object]]:
    return [
        {
            "type": r.type,
            "match": r.match,
            "credits_per_unit": str(r.credits_per_unit),
            "cost_per_unit": None if r.cost_per_unit is None else str(r.cost_per_unit),
        }
        for r in rules
    ]


def rules_from_json(raw: Iterable[dict[str, object]]) -> tuple[BurnRule, ...]:
    from decimal import Decimal

    return tuple(
        BurnRule(
            type=str(r["type"]),
            match=dict(r["match"]),  # type: ignore[call-overload]
            credits_per_unit=Decimal(str(r["credits_per_unit"])),
            cost_per_unit=None if r["cost_per_unit"] is None else Decimal(str(r["cost_per_unit"])),
        )
        for r in raw
    )


async def load_catalog(
    conn: asyncpg.Connection, topic: str, partition: int
) -> dict[tuple[str, str], list[BurnTablePublished]]:
    catalog: dict[tuple[str, str], list[BurnTablePublished]] = {}
    for r in await conn.fetch(LOAD_CATALOG, topic, partition):
        catalog.setdefault((r["tenant_id"], r["name"]), []).append(
            BurnTablePublished(
                event_id=r["event_id"],
                tenant_id=r["tenant_id"],
                name=r["name"],
                version=r["version"],
                effective_at=r["effective_at"],
                rules=rules_from_json(r["rules"]),
                actor=r["published_by"],
                occurred_at=r["published_at"],
            )
        )
    return catalog


async def load_accounts(conn: asyncpg.Connection, keys: Iterable[AccountKey]) -> dict[AccountKey, Account]:
    tenants, customers = _columns(keys, 2)
    if not tenants:
        return {}
    grants: dict[AccountKey, list[Grant]] = {}
    for r in await conn.fetch(LOAD_GRANTS, tenants, customers):
        grants.setdefault((r["tenant_id"], r["customer"]), []).append(
            Grant(
                grant_id=r["grant_id"],
                amount=r["amount"],
                remaining=r["remaining"],
                priority=r["priority"],
                effective_at=r["effective_at"],
                expires_at=r["expires_at"],
            )
        )
    accounts = {}
    for r in await conn.fetch(LOAD_ACCOUNTS, tenants, customers):
        key = (r["tenant_id"], r["customer"])
        accounts[key] = Account(
            tenant_id=key[0],
            customer=key[1],
            grants=tuple(grants.get(key, ())),
            debt=r["debt"] if r["debt"] is not None else Account(*key).debt,
            burn_table=r["burn_table"] or Account(*key).burn_table,
            credit_limit=r["credit_limit"] if r["credit_limit"] is not None else Account(*key).credit_limit,
        )
    return accounts


async def load_charged(
    conn: asyncpg.Connection, ids: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], str]:
    tenants, event_ids = _columns(ids, 2)
    if not tenants:
        return {}
    rows = await conn.fetch(LOAD_CHARGED, tenants, event_ids)
    return {(r["tenant_id"], r["event_id"]): r["customer"] for r in rows}


async def write(
    conn: asyncpg.Connection,
    *,
    topic: str,
    partition: int,
    state: PartitionState,
    result: BatchResult,
) -> None:
    """Write one partition's batch result; call inside the transaction that advances its offset."""
    if result.charges:
        c = result.charges
        await conn.execute(
            INSERT_CHARGES,
            [x.tenant_id for x in c],
            [x.event_id for x in c],
            [x.customer for x in c],
            [x.type for x in c],
            [x.quantity for x in c],
            [x.credits for x in c],
            [x.cost for x in c],
            [x.burn_table for x in c],
            [x.burn_table_version for x in c],
            [x.event_time for x in c],
            [x.received_at for x in c],
            [_allocations_json(x.allocations) for x in c],
            [x.offset for x in c],
            topic,
            partition,
        )
    if result.grants:
        g = result.grants
        await conn.execute(
            INSERT_GRANTS,
            [x.tenant_id for x in g],
            [x.customer for x in g],
            [x.grant_id for x in g],
            [x.amount for x in g],
            [x.priority for x in g],
            [x.effective_at for x in g],
            [x.expires_at for x in g],
            [x.reason for x in g],
            [x.occurred_at for x in g],
            [x.actor for x in g],
            [x.event_id for x in g],
        )
    if result.touched:
        accounts = [state.accounts[k] for k in sorted(result.touched)]
        grants = [(a, g) for a in accounts for g in a.grants]
        await conn.execute(
            UPDATE_REMAINING,
            [a.tenant_id for a, _ in grants],
            [a.customer for a, _ in grants],
            [g.grant_id for _, g in grants],
            [g.remaining for _, g in grants],
        )
        await conn.execute(
            UPSERT_CUSTOMERS,
            [a.tenant_id for a in accounts],
            [a.customer for a in accounts],
            [a.debt for a in accounts],
            [a.burn_table for a in accounts],
            [a.credit_limit for a in accounts],
        )
    for c in result.customers:  # after the upsert above, so the row exists
        await conn.execute(SET_METADATA, c.tenant_id, c.customer, c.metadata, c.event_id)
    for t in result.published:
        await conn.execute(
            INSERT_VERSION,
            t.tenant_id,
            t.name,
            t.version,
            t.effective_at,
            rules_to_json(t.rules),
            t.event_id,
            t.occurred_at,
            t.actor,
        )
        await conn.execute(INSERT_VERSION_SEEN, t.tenant_id, t.name, t.version, topic, partition)


def _allocations_json(allocations: Iterable[Allocation]) -> str:
    return orjson.dumps([{"grant_id": a.grant_id, "credits": str(a.credits)} for a in allocations]).decode()


def _columns(rows: Iterable[tuple[str, ...]], width: int) -> Sequence[list[str]]:
    cols: list[list[str]] = [[] for _ in range(width)]
    for row in rows:
        for i, value in enumerate(row):
            cols[i].append(value)
    return cols
