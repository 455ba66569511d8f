"""A customer's settings as stored: what PUT /v1/customers/{customer} starts from and waits for."""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg

from pipeline.money import format_decimal
from pipeline.records import CustomerUpdated

SETTINGS = """
SELECT burn_table, credit_limit, metadata, alert_thresholds, settings_event_id
FROM customers WHERE tenant_id = $1 AND customer = $2
"""
APPLIED = "SELECT 1 FROM customers WHERE tenant_id = $1 AND customer = $2 AND settings_event_id = $3"


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
