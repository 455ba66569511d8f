"""The exports of a tenant's charges, ledger and usage rollups: each a query taking the tenant ($1), a range
($2 inclusive, $3 exclusive, either NULL for open) and an optional customer ($4), in an order an index
gives, so a server-side cursor streams rows without sorting the whole range first."""

from __future__ import annotations

from datetime import date, datetime

from pipeline.billing.usage_query import ceiling
from pipeline.errors import ValidationError

CHARGES_COLUMNS = (
    "customer", "event_id", "type", "quantity", "credits", "cost", "status", "burn_table",
    "burn_table_version", "event_time", "received_at", "properties",
)  # fmt: skip
CHARGES = f"""
SELECT {", ".join(CHARGES_COLUMNS)} FROM charges
WHERE tenant_id = $1 AND ($2::timestamptz IS NULL OR event_time >= $2)
  AND ($3::timestamptz IS NULL OR event_time < $3) AND ($4::text IS NULL OR customer = $4)
ORDER BY customer, event_time, event_id
"""

LEDGER_COLUMNS = ("customer", "seq", "kind", "amount", "balance", "reference", "at", "detail", "recorded_at")
LEDGER = f"""
SELECT {", ".join(LEDGER_COLUMNS)} FROM ledger_entries
WHERE tenant_id = $1 AND ($2::timestamptz IS NULL OR at >= $2)
  AND ($3::timestamptz IS NULL OR at < $3) AND ($4::text IS NULL OR customer = $4)
ORDER BY customer, seq
"""

QUERIES = {"charges": (CHARGES, CHARGES_COLUMNS), "ledger": (LEDGER, LEDGER_COLUMNS)}

# A usage row is in the range when its window starts in it; rows whose usage was all voided are left out.
USAGE_COLUMNS = ("start", "customer", "type", "events", "quantity", "credits", "cost")
USAGE = {
    "hour": """
SELECT hour AS start, customer, type, events, quantity, credits, cost FROM usage_hourly
WHERE tenant_id = $1 AND ($2::timestamptz IS NULL OR hour >= $2)
  AND ($3::timestamptz IS NULL OR hour < $3) AND ($4::text IS NULL OR customer = $4) AND events > 0
ORDER BY hour, customer, type
""",
    "day": """
SELECT day::timestamp AT TIME ZONE 'UTC' AS start, customer, type, events, quantity, credits, cost
FROM usage_daily
WHERE tenant_id = $1 AND ($2::date IS NULL OR day >= $2)
  AND ($3::date IS NULL OR day < $3) AND ($4::text IS NULL OR customer = $4) AND events > 0
ORDER BY day, customer, type
""",
}


def _bound(window: str, at: datetime | None) -> datetime | date | None:
    if at is None:
        return None
    try:
        start = ceiling(at, window)
    except OverflowError as exc:
        raise ValidationError("since and until must lie within years 1 to 9999", code="invalid_time") from exc
    return start.date() if window == "day" else start


def window_range(
    window: str, since: datetime | None, until: datetime | None
) -> tuple[datetime | date | None, datetime | date | None]:
    """The bounds of the windows that start in [since, until), as the rollup's column holds them."""
    return _bound(window, since), _bound(window, until)
