"""What a billing batch folds over: loads the accounts, charges and catalog that build its PartitionState."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from decimal import Decimal

import asyncpg

from pipeline.billing.ledger import Account, Allocation, Grant, Hold
from pipeline.billing.state import AccountKey, Charge, EventKey
from pipeline.records import BurnTablePublished, EntitlementSet
from projections.billing.burn_rules import version_from_row

LOAD_CATALOG = """
SELECT v.* FROM burn_table_versions v
JOIN burn_table_partitions p USING (tenant_id, name, version)
WHERE p.topic = $1 AND p.partition = $2
ORDER BY v.tenant_id, v.name, v.version
"""


async def load_catalog(
    conn: asyncpg.Connection, topic: str, partition: int
) -> dict[tuple[str, str], list[BurnTablePublished]]:
    catalog: dict[tuple[str, str], list[BurnTablePublished]] = {}
    for r in await conn.fetch(LOAD_CATALOG, topic, partition):
        catalog.setdefault((r["tenant_id"], r["name"]), []).append(version_from_row(r))
    return catalog


# Whether an account has placed holds or metered entitlements is asked here, so the (rare) accounts
# that have them cost one more query and the others none.
LOAD_ACCOUNTS = """
SELECT k.tenant_id, k.customer, c.debt, c.burn_table, c.credit_limit, c.ledger_seq, c.ledger_balance,
       c.alert_thresholds, c.alerts_fired,
       EXISTS (SELECT 1 FROM holds h WHERE h.tenant_id = k.tenant_id AND h.customer = k.customer
               AND h.status = 'placed') AS has_holds,
       EXISTS (SELECT 1 FROM entitlements e WHERE e.tenant_id = k.tenant_id AND e.customer = k.customer
               AND e.kind = 'metered') AS has_metered
FROM unnest($1::text[], $2::text[]) AS k (tenant_id, customer)
LEFT JOIN customers c USING (tenant_id, customer)
"""

LOAD_GRANTS = """
SELECT g.tenant_id, g.customer, g.grant_id, g.amount, g.remaining, g.priority, g.effective_at, g.expires_at,
       g.status
FROM unnest($1::text[], $2::text[]) AS k (tenant_id, customer)
JOIN grants g USING (tenant_id, customer)
ORDER BY g.tenant_id, g.customer, g.granted_at, g.grant_id
"""

LOAD_HOLDS = """
SELECT h.tenant_id, h.customer, h.hold_id, h.credits, h.expires_at, h.event_id
FROM unnest($1::text[], $2::text[]) AS k (tenant_id, customer)
JOIN holds h USING (tenant_id, customer)
WHERE h.status = 'placed'
ORDER BY h.tenant_id, h.customer, h.occurred_at, h.hold_id
"""


async def load_accounts(
    conn: asyncpg.Connection, keys: Iterable[AccountKey]
) -> tuple[dict[AccountKey, Account], set[AccountKey]]:
    """The accounts, and which of them have metered entitlements (see `load_metered`)."""
    tenants, customers = _columns(keys, 2)
    if not tenants:
        return {}, set()
    rows = await conn.fetch(LOAD_ACCOUNTS, tenants, customers)
    held = [(r["tenant_id"], r["customer"]) for r in rows if r["has_holds"]]
    metered = {(r["tenant_id"], r["customer"]) for r in rows if r["has_metered"]}
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
                status=r["status"],
            )
        )
    holds: dict[AccountKey, list[Hold]] = {}
    if held:
        held_tenants, held_customers = _columns(held, 2)
        for r in await conn.fetch(LOAD_HOLDS, held_tenants, held_customers):
            holds.setdefault((r["tenant_id"], r["customer"]), []).append(
                Hold(r["hold_id"], r["credits"], r["expires_at"], r["event_id"])
            )
    accounts = {}
    for r in rows:
        key = (r["tenant_id"], r["customer"])
        accounts[key] = Account(
            tenant_id=key[0],
            customer=key[1],
            grants=tuple(grants.get(key, ())),
            debt=r["debt"] if r["debt"] is not None else Account(*key).debt,
            burn_table=r["burn_table"] or Account(*key).burn_table,
            credit_limit=r["credit_limit"] if r["credit_limit"] is not None else Account(*key).credit_limit,
            ledger_seq=r["ledger_seq"] or 0,
            ledger_balance=r["ledger_balance"]
            if r["ledger_balance"] is not None
            else Account(*key).ledger_balance,
            alert_thresholds=tuple(r["alert_thresholds"] or ()),
            alerts_fired=frozenset(r["alerts_fired"] or ()),
            holds=tuple(holds.get(key, ())),
        )
    return accounts, metered


LOAD_CHARGES = """
SELECT c.* FROM unnest($1::text[], $2::text[]) AS k (tenant_id, event_id)
JOIN charges c USING (tenant_id, event_id)
"""


async def load_charges(conn: asyncpg.Connection, ids: Iterable[EventKey]) -> dict[EventKey, Charge]:
    """The charges that a batch's corrections refer to, as they stand."""
    tenants, event_ids = _columns(ids, 2)
    if not tenants:
        return {}
    return {
        (r["tenant_id"], r["event_id"]): Charge(
            tenant_id=r["tenant_id"],
            event_id=r["event_id"],
            customer=r["customer"],
            type=r["type"],
            quantity=r["quantity"],
            credits=r["credits"],
            cost=r["cost"],
            burn_table=r["burn_table"],
            burn_table_version=r["burn_table_version"],
            event_time=r["event_time"],
            received_at=r["received_at"],
            allocations=tuple(Allocation(a["grant_id"], Decimal(a["credits"])) for a in r["allocations"]),
            offset=r["offset"],
            properties=r["properties"],
            status=r["status"],
        )
        for r in await conn.fetch(LOAD_CHARGES, tenants, event_ids)
    }


LOAD_METERED = """
SELECT e.* FROM unnest($1::text[], $2::text[]) AS k (tenant_id, customer)
JOIN entitlements e USING (tenant_id, customer)
WHERE e.kind = 'metered'
"""


async def load_metered(
    conn: asyncpg.Connection, keys: Iterable[AccountKey]
) -> dict[AccountKey, dict[str, EntitlementSet]]:
    """Each account's metered entitlements, which its usage counts against."""
    tenants, customers = _columns(keys, 2)
    if not tenants:
        return {}
    metered: dict[AccountKey, dict[str, EntitlementSet]] = {}
    for r in await conn.fetch(LOAD_METERED, tenants, customers):
        metered.setdefault((r["tenant_id"], r["customer"]), {})[r["feature"]] = EntitlementSet(
            event_id=r["event_id"],
            tenant_id=r["tenant_id"],
            customer=r["customer"],
            feature=r["feature"],
            kind=r["kind"],
            enabled=r["enabled"],
            limit=r["limit"],
            event_type=r["event_type"],
            match=r["match"],
            allowance=r["allowance"],
            period=r["period"],
            actor=r["updated_by"],
            occurred_at=r["updated_at"],
        )
    return metered


LOAD_CHARGED = """
SELECT c.tenant_id, c.event_id, c.customer
FROM unnest($1::text[], $2::text[]) AS k (tenant_id, event_id)
JOIN charges c USING (tenant_id, event_id)
"""


async def load_charged(
    conn: asyncpg.Connection, ids: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], str]:
    tenants, event_ids = _columns(ids, 2)
    if not tenants:
        return {}
    rows = await conn.fetch(LOAD_CHARGED, tenants, event_ids)
    return {(r["tenant_id"], r["event_id"]): r["customer"] for r in rows}


def _columns(rows: Iterable[tuple[str, ...]], width: int) -> Sequence[list[str]]:
    cols: list[list[str]] = [[] for _ in range(width)]
    for row in rows:
        for i, value in enumerate(row):
            cols[i].append(value)
    return cols
