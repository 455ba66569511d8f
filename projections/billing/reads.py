"""Read queries used by the gateway; every one is scoped to a tenant."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import asyncpg

from pipeline.billing.ledger import DEFAULT_TABLE
from pipeline.records import BurnTablePublished
from projections.billing.burn_rules import version_from_row

CUSTOMER = "SELECT debt, updated_at, ledger_seq FROM customers WHERE tenant_id = $1 AND customer = $2"

GRANTS = """
SELECT grant_id, amount, remaining, priority, effective_at, expires_at, reason, granted_at, status, closed_at
FROM grants WHERE tenant_id = $1 AND customer = $2
ORDER BY priority DESC, expires_at ASC NULLS LAST, effective_at, grant_id
"""

GRANT = """
SELECT grant_id, amount, remaining, priority, effective_at, expires_at, reason, granted_at, status, closed_at
FROM grants WHERE tenant_id = $1 AND customer = $2 AND grant_id = $3
"""

GRANT_EXISTS = "SELECT 1 FROM grants WHERE tenant_id = $1 AND customer = $2 AND grant_id = $3"

CHARGES = """
SELECT event_id, type, quantity, credits, cost, burn_table, burn_table_version, event_time, allocations
FROM charges
WHERE tenant_id = $1 AND customer = $2
  AND ($3::timestamptz IS NULL OR (event_time, event_id) < ($3, $4))
ORDER BY event_time DESC, event_id DESC
LIMIT $5
"""

LATEST_VERSION = "SELECT max(version) FROM burn_table_versions WHERE tenant_id = $1 AND name = $2"
VERSION_EXISTS = "SELECT 1 FROM burn_table_versions WHERE tenant_id = $1 AND name = $2 AND version = $3"
BURN_TABLE = """
SELECT name, version, effective_at, rules, published_at FROM burn_table_versions
WHERE tenant_id = $1 AND name = $2 ORDER BY version DESC LIMIT $3
"""


async def customer(pool: asyncpg.Pool, tenant_id: str, name: str) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await pool.fetchrow(CUSTOMER, tenant_id, name)
    return row


async def grants(pool: asyncpg.Pool, tenant_id: str, name: str) -> list[dict[str, Any]]:
    return [dict(r) for r in await pool.fetch(GRANTS, tenant_id, name)]


async def grant(pool: asyncpg.Pool, tenant_id: str, name: str, grant_id: str) -> dict[str, Any] | None:
    row = await pool.fetchrow(GRANT, tenant_id, name, grant_id)
    return None if row is None else dict(row)


async def charges(
    pool: asyncpg.Pool, tenant_id: str, name: str, *, before: tuple[datetime, str] | None, limit: int
) -> list[dict[str, Any]]:
    at, event_id = before if before else (None, None)
    return [dict(r) for r in await pool.fetch(CHARGES, tenant_id, name, at, event_id, limit)]


async def burn_table_versions(
    pool: asyncpg.Pool, tenant_id: str, name: str, limit: int
) -> list[dict[str, Any]]:
    return [dict(r) for r in await pool.fetch(BURN_TABLE, tenant_id, name, limit)]


# Every table of a tenant with its newest version, by name.
BURN_TABLES = """
SELECT DISTINCT ON (name) name, version, effective_at, published_at, jsonb_array_length(rules) AS rule_count
FROM burn_table_versions
WHERE tenant_id = $1 AND ($2::text IS NULL OR name > $2)
ORDER BY name, version DESC
LIMIT $3
"""
# One table's versions, newest first, below a version (a page's cursor).
VERSIONS = """
SELECT version, effective_at, rules, published_at, published_by FROM burn_table_versions
WHERE tenant_id = $1 AND name = $2 AND ($3::integer IS NULL OR version < $3)
ORDER BY version DESC LIMIT $4
"""
# Every stored column of every version: what pricing reads (pipeline/billing/pricing.py).
ALL_VERSIONS = "SELECT * FROM burn_table_versions WHERE tenant_id = $1 AND name = $2 ORDER BY version"


async def burn_tables(
    pool: asyncpg.Pool, tenant_id: str, *, after: str | None, limit: int
) -> list[dict[str, Any]]:
    return [dict(r) for r in await pool.fetch(BURN_TABLES, tenant_id, after, limit)]


async def versions_page(
    pool: asyncpg.Pool, tenant_id: str, name: str, *, below: int | None, limit: int
) -> list[dict[str, Any]]:
    return [dict(r) for r in await pool.fetch(VERSIONS, tenant_id, name, below, limit)]


CHARGED_TO = "SELECT customer FROM charges WHERE tenant_id = $1 AND event_id = $2"
TABLE_OF = "SELECT burn_table FROM customers WHERE tenant_id = $1 AND customer = $2"


async def charged_to(pool: asyncpg.Pool, tenant_id: str, event_id: str) -> str | None:
    """The customer an event id was charged to, if it was."""
    found: str | None = await pool.fetchval(CHARGED_TO, tenant_id, event_id)
    return found


async def table_of(pool: asyncpg.Pool, tenant_id: str, customer: str) -> str:
    """The burn table that prices a customer's usage: theirs, or `default`."""
    return await pool.fetchval(TABLE_OF, tenant_id, customer) or DEFAULT_TABLE


async def priced_versions(pool: asyncpg.Pool, tenant_id: str, name: str) -> list[BurnTablePublished]:
    """Every version of a table as the records that published it, as the billing fold prices with them."""
    return [version_from_row(r) for r in await pool.fetch(ALL_VERSIONS, tenant_id, name)]


# The credits lifecycle: grant voids, the ledger, usage corrections and balance alerts.

GRANT_CLOSED = """
SELECT 1 FROM grants WHERE tenant_id = $1 AND customer = $2 AND grant_id = $3 AND status <> 'active'
"""

LEDGER = """
SELECT seq, kind, amount, balance, reference, at, detail, recorded_at FROM ledger_entries
WHERE tenant_id = $1 AND customer = $2 AND seq > $3
ORDER BY seq LIMIT $4
"""

ALERTS = """
SELECT alert_id, kind AS type, threshold, balance, ledger_seq, occurred_at, recorded_at FROM alerts
WHERE tenant_id = $1 AND customer = $2
  AND ($3::bigint IS NULL OR (ledger_seq, -threshold) > ($3, -$4::numeric))
ORDER BY ledger_seq, threshold DESC LIMIT $5
"""

CHARGE = """
SELECT event_id, customer, type, quantity, properties, credits, cost, burn_table, burn_table_version, event_time,
       allocations, status, original, corrected_at
FROM charges WHERE tenant_id = $1 AND event_id = $2
"""

CORRECTION_EXISTS = "SELECT 1 FROM corrections WHERE tenant_id = $1 AND correction_id = $2"
CORRECTION = """
SELECT correction_id, event_id, action, status, code, message, credits_before, credits_after
FROM corrections WHERE tenant_id = $1 AND correction_id = $2
"""


async def ledger(
    pool: asyncpg.Pool, tenant_id: str, name: str, *, after_seq: int, limit: int
) -> list[dict[str, Any]]:
    return [dict(r) for r in await pool.fetch(LEDGER, tenant_id, name, after_seq, limit)]


async def alerts(
    pool: asyncpg.Pool, tenant_id: str, name: str, *, after: tuple[int, Decimal] | None, limit: int
) -> list[dict[str, Any]]:
    """Alerts in the order they fired: by ledger entry, and within one entry the highest threshold first."""
    seq, threshold = after if after else (None, None)
    return [dict(r) for r in await pool.fetch(ALERTS, tenant_id, name, seq, threshold, limit)]


async def charge(pool: asyncpg.Pool, tenant_id: str, event_id: str) -> dict[str, Any] | None:
    row = await pool.fetchrow(CHARGE, tenant_id, event_id)
    return None if row is None else dict(row)


async def correction(pool: asyncpg.Pool, tenant_id: str, correction_id: str) -> dict[str, Any] | None:
    row = await pool.fetchrow(CORRECTION, tenant_id, correction_id)
    return None if row is None else dict(row)


# Balances, entitlements and the real-time check.


def spendable(tenant: str, customer: str, at: str) -> str:
    """SQL for the credits a customer may spend at `at`: its active grants effective then and not yet
    expired. The arguments are SQL expressions (parameters or columns)."""
    return f"""COALESCE((SELECT sum(g.remaining) FROM grants g
                 WHERE g.tenant_id = {tenant} AND g.customer = {customer} AND g.status = 'active'
                   AND g.effective_at <= {at} AND (g.expires_at IS NULL OR {at} < g.expires_at)), 0)"""


# A customer's spendable balance at $3 (spendable grants minus debt) and credit limit: one row even for
# a customer never seen (`known` false, zeros). The balance endpoint, the check and the list of
# customers all count it this way, so they always agree.
BALANCE = f"""
SELECT c.customer IS NOT NULL AS known,
       COALESCE(c.debt, 0) AS debt,
       COALESCE(c.credit_limit, 0) AS credit_limit,
       c.updated_at,
       {spendable("$1", "$2", "$3")} - COALESCE(c.debt, 0) AS balance
FROM (VALUES (1)) AS one
LEFT JOIN customers c ON c.tenant_id = $1 AND c.customer = $2
"""

# Usage counters are per period; $day/$month are the starts of the current UTC day and month.
_CURRENT_PERIOD = "CASE e.period WHEN 'day' THEN {day}::timestamptz ELSE {month}::timestamptz END"

# Everything a check needs in one statement (one snapshot): the balance, the feature's entitlement
# ($4, NULL for none) with its usage this period, the credits on hold and the watermark of the
# customer's partition.
CHECK = f"""
WITH standing AS ({BALANCE})
SELECT s.balance, s.credit_limit, e.kind, e.enabled, e."limit", e.allowance,
       COALESCE(u.used, 0) AS used, w.emitted_at AS as_of,
       COALESCE((SELECT sum(h.credits) FROM holds h WHERE h.tenant_id = $1 AND h.customer = $2
                 AND h.status = 'placed' AND $3 < h.expires_at), 0) AS on_hold
FROM standing s
LEFT JOIN entitlements e ON e.tenant_id = $1 AND e.customer = $2 AND e.feature = $4
LEFT JOIN usage_counters u ON u.tenant_id = $1 AND u.customer = $2 AND u.feature = $4
      AND u.period_start = {_CURRENT_PERIOD.format(day="$5", month="$6")}
LEFT JOIN watermarks w ON w.topic = $7 AND w.partition = $8
"""

ENTITLEMENTS = f"""
SELECT e.feature, e.kind, e.enabled, e."limit", e.event_type, e.match, e.allowance, e.period, e.updated_at,
       COALESCE(u.used, 0) AS used, {_CURRENT_PERIOD.format(day="$3", month="$4")} AS period_start
FROM entitlements e
LEFT JOIN usage_counters u ON u.tenant_id = e.tenant_id AND u.customer = e.customer AND u.feature = e.feature
      AND u.period_start = {_CURRENT_PERIOD.format(day="$3", month="$4")}
WHERE e.tenant_id = $1 AND e.customer = $2
ORDER BY e.feature
"""


async def balance(pool: asyncpg.Pool, tenant_id: str, name: str, at: datetime) -> asyncpg.Record:
    row = await pool.fetchrow(BALANCE, tenant_id, name, at)
    assert row is not None  # the query answers one row for any customer
    return row


async def check(
    pool: asyncpg.Pool,
    tenant_id: str,
    name: str,
    feature: str | None,
    *,
    at: datetime,
    periods: tuple[datetime, datetime],
    watermark: tuple[str, int],
) -> asyncpg.Record:
    """`periods`: the current (day, month) starts; `watermark`: the customer's (topic, partition)."""
    row = await pool.fetchrow(CHECK, tenant_id, name, at, feature, *periods, *watermark)
    assert row is not None  # the query answers one row for any customer
    return row


async def entitlements(
    pool: asyncpg.Pool, tenant_id: str, name: str, *, periods: tuple[datetime, datetime]
) -> list[dict[str, Any]]:
    return [dict(r) for r in await pool.fetch(ENTITLEMENTS, tenant_id, name, *periods)]
