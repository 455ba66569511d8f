"""Customers as stored: the settings PUT /v1/customers/{customer} starts from and waits for, and the
tenant's customers one page at a time (GET /v1/customers, the dashboard's list)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import asyncpg

from pipeline.money import format_decimal
from pipeline.records import CustomerUpdated
from projections.billing.reads import spendable

SETTINGS = """
SELECT burn_table, credit_limit, metadata, alert_thresholds, settings_event_id
FROM customers WHERE tenant_id = $1 AND customer = $2
"""
APPLIED = "SELECT 1 FROM customers WHERE tenant_id = $1 AND customer = $2 AND settings_event_id = $3"

# By id, after the cursor's id ($3), those starting with $2 (NULL: all). The balance is counted as
# reads.BALANCE counts it (grants spendable at $4 minus debt), only for the page's rows; the last
# activity is when the billing fold last changed the customer (a charge, grant, expiry, void, settings).
PAGE = f"""
SELECT c.customer, {spendable("c.tenant_id", "c.customer", "$4")} - c.debt AS balance,
       c.debt, c.credit_limit, c.burn_table, c.updated_at AS last_activity_at
FROM customers c
WHERE c.tenant_id = $1
  AND ($2::text IS NULL OR starts_with(c.customer, $2))
  AND ($3::text IS NULL OR c.customer > $3)
ORDER BY c.customer
LIMIT $5
"""


async def settings(pool: asyncpg.Pool, tenant_id: str, customer: str) -> CustomerUpdated | None:
    """The customer's settings as a record to update, None for a customer never configured."""
    row = await pool.fetchrow(SETTINGS, tenant_id, customer)
    if row is None:
        return None
    return CustomerUpdated(
        "",
        tenant_id,
        customer,
        row["burn_table"],
        row["credit_limit"],
        row["metadata"],
        "",
        datetime.now(UTC),
        [format_decimal(t) for t in sorted(row["alert_thresholds"], reverse=True)],
    )


async def page(
    pool: asyncpg.Pool, tenant_id: str, *, prefix: str | None, after: str | None, at: datetime, limit: int
) -> list[dict[str, Any]]:
    """Up to `limit` of the tenant's customers by id, after `after`, with their balance at `at`."""
    return [dict(r) for r in await pool.fetch(PAGE, tenant_id, prefix, after, at, limit)]
