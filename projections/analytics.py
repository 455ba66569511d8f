"""Analyst logins: read-only PostgreSQL roles that see the `analytics` views, limited to one tenant (or all).

A login is a member of `revos_analyst` (USAGE on the schema, SELECT on its views, nothing else) and is
registered in `analyst_logins` with its tenant; the views' row-level security reads that registration
(migration 031). Roles belong to the cluster, so a login's name carries a digest of the database's name
too: the same tenant in two databases of one cluster gets two logins.
"""

from __future__ import annotations

import hashlib
import secrets

import asyncpg

from projections.db import migrations

ANALYST_ROLE = "revos_analyst"
_SETTINGS = (
    "default_transaction_read_only = on",
    "search_path = analytics",
    "statement_timeout = '5min'",
    "timezone = 'UTC'",  # the rollups' buckets: current_date and date_trunc agree with day and hour
)


def rollup_backfill() -> str:
    """Migration 031's from-scratch aggregation of the charges into `usage_hourly` and `usage_daily`: the
    statements that rolled up the charges written before it, for any other rebuild to reuse as they are."""
    sql = dict(migrations())[31]
    return sql[sql.index("-- Rollups of charges already applied") : sql.index("-- Roles are the cluster")]


def login_name(database: str, tenant_id: str | None) -> str:
    """The login's role name: stable for a database and tenant, and a valid identifier for any tenant id."""
    digest = hashlib.sha256(f"{database}\0{tenant_id or ''}".encode()).hexdigest()[:20]
    return f"revos_analyst_{'all' if tenant_id is None else 't'}_{digest}"


async def ensure_login(
    conn: asyncpg.Connection, tenant_id: str | None, *, password: bool = False
) -> tuple[str, str | None]:
    """Make (or keep) the analyst login of `tenant_id` (None: every tenant) and register it.

    With `password`, the login gets a new random password, returned; the previous one stops working.
    Without, it keeps whatever it had (a session can then take the role with SET ROLE)."""
    database = await conn.fetchval("SELECT current_database()")
    role = login_name(database, tenant_id)
    async with conn.transaction():
        exists = await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", role)
        if not exists:
            try:
                async with conn.transaction():
                    await conn.execute(f'CREATE ROLE "{role}" LOGIN IN ROLE {ANALYST_ROLE}')
            except asyncpg.DuplicateObjectError:
                pass  # made meanwhile by another session
        for setting in _SETTINGS:
            await conn.execute(f'ALTER ROLE "{role}" SET {setting}')
        await conn.execute(
            "INSERT INTO analyst_logins (role_name, tenant_id) VALUES ($1, $2) "
            "ON CONFLICT (role_name) DO UPDATE SET tenant_id = EXCLUDED.tenant_id",
            role,
            tenant_id,
        )
        secret = None
        if password:
            secret = secrets.token_hex(24)  # hex: nothing to escape in the statement
            await conn.execute(f"ALTER ROLE \"{role}\" PASSWORD '{secret}'")
    return role, secret


PRODUCT_METRICS = """
SELECT
    (SELECT count(*) FROM analytics.tenant_activation) AS tenants,
    (SELECT count(*) FILTER (WHERE activated) FROM analytics.tenant_activation) AS activated,
    (SELECT count(time_to_first_value) FROM analytics.tenant_activation) AS live,
    (SELECT extract(epoch FROM percentile_cont(0.5) WITHIN GROUP (ORDER BY time_to_first_value))
     FROM analytics.tenant_activation) AS ttfv_median,
    (SELECT extract(epoch FROM percentile_cont(0.9) WITHIN GROUP (ORDER BY time_to_first_value))
     FROM analytics.tenant_activation) AS ttfv_p90,
    (SELECT COALESCE(sum(answers), 0) FROM analytics.chat_errors_daily WHERE day > current_date - 7) AS answers,
    (SELECT COALESCE(sum(errors), 0) FROM analytics.chat_errors_daily WHERE day > current_date - 7) AS errors
"""


def _share(part: int, whole: int) -> float | None:
    return None if whole == 0 else round(part / whole, 4)


async def product_metrics(conn: asyncpg.Connection) -> dict[str, object]:
    """The chat launch plan's figures over every tenant: activation (an agent and a conversation), time
    to first value (sign-up to the first conversation on a live site) and the chat error rate of the last
    7 UTC days (answers that failed, or that no model could give)."""
    r = await conn.fetchrow(PRODUCT_METRICS)
    assert r is not None  # one row of aggregates, always
    return {
        "tenants": r["tenants"],
        "activated": r["activated"],
        "activation_rate": _share(r["activated"], r["tenants"]),
        "time_to_first_value_seconds": {
            "tenants_live": r["live"],
            "median": None if r["ttfv_median"] is None else round(float(r["ttfv_median"]), 1),
            "p90": None if r["ttfv_p90"] is None else round(float(r["ttfv_p90"]), 1),
        },
        "chat_errors_7d": {
            "answers": int(r["answers"]),
            "errors": int(r["errors"]),
            "error_rate": _share(int(r["errors"]), int(r["answers"])),
        },
    }
