"""docs/analytics.md against the database: every view and column is documented with the meaning its
comment gives, and every example query runs through a tenant's analyst login on real rows of two tenants,
returning rows of that tenant only."""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

import asyncpg
from test_analytics import connect_as

from projections.analytics import ensure_login

DOC = Path(__file__).resolve().parents[2] / "docs" / "analytics.md"
TENANT, OTHER = "ten_acme", "ten_globex"

CATALOG = """
SELECT c.relname AS view, obj_description(c.oid, 'pg_class') AS view_comment, a.attname AS column,
       format_type(a.atttypid, a.atttypmod) AS type, col_description(c.oid, a.attnum) AS comment
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
WHERE n.nspname = 'analytics' AND c.relkind = 'v'
ORDER BY c.relname, a.attnum"""

# Two tenants alike: customers cust_42 and cust_7, usage over the last two weeks (one charge voided), an
# agent with conversations on a live site and a failed answer, a call, a dead letter. Rollups are made from
# the charges as the billing writer keeps them.
SEED = """
INSERT INTO tenants (tenant_id, name, created_at, created_by) VALUES ($1, $1, now() - interval '20 days', 'test');
INSERT INTO customers (tenant_id, customer, debt, updated_at) VALUES ($1, 'cust_42', 0, now()), ($1, 'cust_7', 0, now());
INSERT INTO grants (tenant_id, customer, grant_id, amount, remaining, priority, effective_at, granted_at, granted_by,
                    event_id)
VALUES ($1, 'cust_42', 'g1', 1000, 945, 0, now() - interval '15 days', now() - interval '15 days', 'test', 'eg1');
INSERT INTO ledger_entries (tenant_id, customer, seq, kind, amount, balance, reference, at)
VALUES ($1, 'cust_42', 1, 'grant', 1000, 1000, 'g1', now() - interval '15 days'),
       ($1, 'cust_42', 2, 'charge', -5, 995, 'e1', now() - interval '10 days'),
       ($1, 'cust_42', 3, 'charge', -10, 985, 'e2', now() - interval '10 days'),
       ($1, 'cust_42', 4, 'charge', -40, 945, 'e3', now() - interval '3 days');
INSERT INTO charges (tenant_id, event_id, customer, type, quantity, credits, cost, burn_table, burn_table_version,
                     event_time, allocations, topic, partition, "offset", status)
VALUES ($1, 'e1', 'cust_42', 'llm.tokens', 5000, 5, 0.02, 'default', 1, now() - interval '10 days', '[]', 'b', 0, 0,
        'charged'),
       ($1, 'e2', 'cust_42', 'report.completed', 1, 10, 0.03, 'default', 1, now() - interval '10 days', '[]', 'b', 0,
        1, 'charged'),
       ($1, 'e3', 'cust_42', 'report.completed', 2, 40, 0.06, 'default', 1, now() - interval '3 days', '[]', 'b', 0, 2,
        'amended'),
       ($1, 'e4', 'cust_7', 'api.calls', 1, 2, NULL, 'default', 1, now() - interval '3 days', '[]', 'b', 0, 3,
        'charged'),
       ($1, 'e5', 'cust_7', 'report.completed', 1, 0, 0, 'default', 1, now() - interval '3 days', '[]', 'b', 0, 4,
        'voided');
INSERT INTO usage_hourly
SELECT tenant_id, customer, type, date_trunc('hour', event_time, 'UTC'), count(*), sum(quantity), sum(credits),
       COALESCE(sum(cost), 0)
FROM charges WHERE tenant_id = $1 AND status <> 'voided' GROUP BY 1, 2, 3, 4;
INSERT INTO usage_daily
SELECT tenant_id, customer, type, (event_time AT TIME ZONE 'UTC')::date, count(*), sum(quantity), sum(credits),
       COALESCE(sum(cost), 0)
FROM charges WHERE tenant_id = $1 AND status <> 'voided' GROUP BY 1, 2, 3, 4;
INSERT INTO assistants (tenant_id, agent_id, name, system_prompt, model, customer, event_id, created_at, updated_at)
VALUES ($1, 'agt_help_' || $1, 'Helper', 'be nice', 'offline', 'cust_42', 'ea', now() - interval '19 days',
        now() - interval '19 days');
INSERT INTO widget_sightings (tenant_id, agent_id, origin, allowed, first_seen, last_seen, sessions, refused)
VALUES ($1, 'agt_help_' || $1, 'https://shop.example', true, now() - interval '18 days', now(), 2, 0);
INSERT INTO conversations (tenant_id, conversation_id, agent_id, origin, started_at, last_message_at, last_seq)
VALUES ($1, 'v1', 'agt_help_' || $1, NULL, now() - interval '19 days', now() - interval '19 days', 2),
       ($1, 'v2', 'agt_help_' || $1, 'https://shop.example', now() - interval '18 days', now() - interval '18 days',
        3),
       ($1, 'v3', 'agt_help_' || $1, 'https://shop.example', now() - interval '2 days', now() - interval '2 days', 2);
INSERT INTO chat_messages (tenant_id, conversation_id, seq, message_id, agent_id, role, content, status, occurred_at)
VALUES ($1, 'v3', 1, 'm1', 'agt_help_' || $1, 'user', 'hi', 'complete', now() - interval '2 days'),
       ($1, 'v3', 2, 'm2', 'agt_help_' || $1, 'assistant', 'hello', 'complete', now() - interval '2 days'),
       ($1, 'v3', 3, 'm3', 'agt_help_' || $1, 'user', 'and?', 'complete', now() - interval '2 days'),
       ($1, 'v3', 4, 'm4', 'agt_help_' || $1, 'assistant', '', 'failed', now() - interval '2 days');
INSERT INTO calls (tenant_id, call_sid, agent_id, started_at, answered_at, ended_at, duration_seconds, end_reason)
VALUES ($1, 'CA1' || $1, 'agt_help_' || $1, now() - interval '2 days', now() - interval '2 days',
        now() - interval '2 days', 95, 'agent_ended'),
       ($1, 'CA2' || $1, 'agt_help_' || $1, now() - interval '2 days', NULL, now() - interval '2 days', 0, 'busy');
INSERT INTO dead_letters (dead_letter_id, topic, stage, code, error_class, message, stack, tenant_id, value,
                          headers, attempts, replay_count, first_failed_at, last_failed_at, app_version)
VALUES ('dl-' || $1, 'billing.dlq', 'billing.charge', 'unpriced', 'Unpriced', 'no rule', '', $1, '\\x00', '[]', 1,
        0, now() - interval '1 day', now() - interval '1 day', 'test');
"""


def sql_blocks(text: str) -> list[str]:
    return [b.strip() for b in re.findall(r"^```sql\n(.*?)^```", text, re.DOTALL | re.MULTILINE)]


def view_section(view: str, view_comment: str, columns: Iterable[asyncpg.Record]) -> str:
    """How docs/analytics.md documents a view: its heading, its comment, a table of its columns."""
    lines = [f"### `analytics.{view}`", "", view_comment, ""]
    lines += ["| column | type | meaning |", "| --- | --- | --- |"]
    lines += [f"| `{c['column']}` | {c['type']} | {c['comment']} |" for c in columns]
    return "\n".join(lines) + "\n"


async def test_the_doc_documents_every_view_and_column_as_the_database_comments_them(
    pool: asyncpg.Pool,
) -> None:
    doc = DOC.read_text()
    catalog = await pool.fetch(CATALOG)
    views = sorted({r["view"] for r in catalog})
    assert len(views) >= 13
    for view in views:
        columns = [r for r in catalog if r["view"] == view]
        assert columns[0]["view_comment"], f"analytics.{view} has no comment"
        undocumented = [c["column"] for c in columns if not c["comment"]]
        assert not undocumented, f"analytics.{view}: columns without a comment: {undocumented}"
        section = view_section(view, columns[0]["view_comment"], columns)
        assert section in doc, f"docs/analytics.md should hold, as is:\n\n{section}"
    documented = set(re.findall(r"^### `analytics\.(\w+)`", doc, re.MULTILINE))
    assert documented == set(views), "views documented that do not exist"


async def seed(pool: asyncpg.Pool, *tenants: str) -> None:
    async with pool.acquire() as conn:
        for tenant in tenants:
            for statement in SEED.strip().split(";\n"):
                await conn.execute(statement, tenant)


async def test_every_example_query_runs_as_a_tenant_and_returns_its_rows_only(
    pool: asyncpg.Pool, database: str
) -> None:
    queries = sql_blocks(DOC.read_text())
    assert len(queries) >= 10
    await seed(pool, TENANT, OTHER)
    async with pool.acquire() as conn:
        role, password = await ensure_login(conn, TENANT, password=True)
        everyone, everyone_password = await ensure_login(conn, None, password=True)
    assert password is not None and everyone_password is not None

    analyst = await connect_as(database, role, password)
    operator = await connect_as(database, everyone, everyone_password)
    try:
        assert await analyst.fetchval("SHOW timezone") == "UTC"  # the rollups' days, for current_date
        for query in queries:
            found = await analyst.fetch(query)
            assert found, f"no row for {TENANT}:\n{query}"
            if "tenant_id" in found[0]:
                assert {r["tenant_id"] for r in found} == {TENANT}, query
            # Every tenant's rows for an operator: the seed holds the other tenant's rows too, so the
            # analyst's answer above is the filter at work.
            for_all = await operator.fetch(query)
            if "tenant_id" in for_all[0]:
                assert {r["tenant_id"] for r in for_all} == {TENANT, OTHER}, query
    finally:
        await analyst.close()
        await operator.close()
