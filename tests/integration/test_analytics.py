"""Usage rollups and the analytics views, on a real PostgreSQL and broker topic (no Faust).

The rollups must equal a from-scratch aggregation of the charges after voids, amends and redeliveries,
and again after a rebuild from the log into a fresh database. An analyst login of one tenant must read no
row of another tenant through any view, nor any table behind them.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from agents.billing import BillingProjection
from agents.runner import Message, Runtime, process
from infra.ports import free_port
from infra.postgres import EmbeddedPostgres
from pipeline.codec import default_codec
from pipeline.records import (
    BurnRule,
    BurnTablePublished,
    CreditsGranted,
    Record,
    UsageBatch,
    UsageCorrected,
    UsageRecorded,
)
from projections import analytics_reads
from projections.analytics import ensure_login, product_metrics, rollup_backfill
from projections.db import create_pool, migrate

codec = default_codec()
START = datetime(2026, 11, 1, tzinfo=UTC)
TYPES = ("tokens", "calls", "report.completed")
CUSTOMERS = ("c1", "c2", "c3", "c4")

# What the rollups must equal: the charges, voided ones left out, summed per bucket.
FROM_SCRATCH = {
    "usage_hourly": """
        SELECT tenant_id, customer, type, date_trunc('hour', event_time, 'UTC') AS bucket, count(*) AS events,
               sum(quantity) AS quantity, sum(credits) AS credits, COALESCE(sum(cost), 0) AS cost
        FROM charges WHERE status <> 'voided' GROUP BY 1, 2, 3, 4""",
    "usage_daily": """
        SELECT tenant_id, customer, type, (event_time AT TIME ZONE 'UTC')::date AS bucket, count(*) AS events,
               sum(quantity) AS quantity, sum(credits) AS credits, COALESCE(sum(cost), 0) AS cost
        FROM charges WHERE status <> 'voided' GROUP BY 1, 2, 3, 4""",
}
KEPT = {
    "usage_hourly": "SELECT tenant_id, customer, type, hour AS bucket, events, quantity, credits, cost "
    "FROM usage_hourly WHERE events <> 0",
    "usage_daily": "SELECT tenant_id, customer, type, day AS bucket, events, quantity, credits, cost "
    "FROM usage_daily WHERE events <> 0",
}


async def rows(pool: asyncpg.Pool, sql: str) -> set[tuple[object, ...]]:
    # Decimals compare by value, so 1.50 and 1.5 are one; normalize() makes their tuples hash alike too.
    return {
        tuple(v.normalize() if isinstance(v, Decimal) else v for v in r.values())
        for r in await pool.fetch(sql)
    }


async def assert_rollups_exact(pool: asyncpg.Pool) -> set[tuple[object, ...]]:
    kept: set[tuple[object, ...]] = set()
    for table in FROM_SCRATCH:
        expected = await rows(pool, FROM_SCRATCH[table])
        assert await rows(pool, KEPT[table]) == expected, table
        kept |= expected
    assert await pool.fetchval("SELECT count(*) FROM usage_daily WHERE events < 0") == 0
    return kept


def table_published(tenant: str, version: int) -> BurnTablePublished:
    rules = (
        BurnRule("tokens", Decimal("0.001"), {}, Decimal("0.0004")),
        BurnRule("calls", Decimal("2")),  # no cost_per_unit: its cost is unknown
        BurnRule("report.completed", Decimal("25"), {"tier": "pro"}, Decimal("3")),
        BurnRule("report.completed", Decimal("10"), {}, Decimal("1.5")),
    )
    at = START - timedelta(days=1)
    return BurnTablePublished(f"bt-{tenant}-{version}", tenant, "default", version, at, rules, "test", at)


def log_of_usage(tenant: str, rng: random.Random) -> list[Record]:
    """A tenant's log: a burn table, grants, usage over three days (single records and batches, with
    resends), then voids and amends (some of the same event twice, some of events never charged)."""
    log: list[Record] = [table_published(tenant, 1)]
    for c in CUSTOMERS:
        log.append(
            CreditsGranted(
                f"g-{tenant}-{c}",
                tenant,
                c,
                "g1",
                Decimal("500"),
                0,
                START - timedelta(days=1),
                None,
                None,
                "test",
                START - timedelta(days=1),
            )
        )
    events: list[UsageRecorded] = []
    for i in range(300):
        type_ = rng.choice(TYPES)
        quantity = {"tokens": str(rng.randint(1, 5000)), "calls": "1", "report.completed": "1"}[type_]
        properties = {"tier": rng.choice(["pro", "free"])} if type_ == "report.completed" else {}
        at = START + timedelta(minutes=rng.randint(0, 3 * 24 * 60 - 1), microseconds=rng.randint(0, 999_999))
        events.append(
            UsageRecorded(
                f"e{i}", tenant, rng.choice(CUSTOMERS), type_, at, Decimal(quantity), properties, None
            )
        )
    i = 0
    while i < len(events):
        n = rng.choice([1, 1, 3, 8])
        group = events[i : i + n]
        by_customer: dict[str, list[UsageRecorded]] = {}
        for e in group:
            by_customer.setdefault(e.customer, []).append(e)
        for customer_events in by_customer.values():
            if len(customer_events) == 1:
                log.append(customer_events[0])
            else:
                log.append(UsageBatch(f"req-{tenant}-{i}-{customer_events[0].customer}", tenant,
                                      tuple(customer_events), None))  # fmt: skip
        if rng.random() < 0.15:
            log.append(rng.choice(group))  # a resend
        i += n
    for k, e in enumerate(rng.sample(events, 60)):
        if rng.random() < 0.4:
            correction = ("void", None, None)
        else:
            props = {"tier": rng.choice(["pro", "free"])} if e.type == "report.completed" else None
            correction = ("amend", Decimal(rng.randint(0, 9000)) if e.type == "tokens" else None, props)
        action, quantity, properties = correction
        if action == "amend" and quantity is None and properties is None:
            quantity = Decimal("2")
        log.append(
            UsageCorrected(
                f"x{k}-{tenant}",
                tenant,
                e.customer,
                e.event_id,
                action,
                quantity,
                properties,
                None,
                "test",
                START + timedelta(days=4),
            )
        )
    return log


def messages(topic: str, records: Sequence[Record], first_offset: int = 0) -> list[Message]:
    return [
        Message(topic, 0, first_offset + i, b"k", codec.encode(r), (), START) for i, r in enumerate(records)
    ]


async def apply_log(runtime: Runtime, topic: str, log: Sequence[Record], rng: random.Random) -> None:
    """Applies the log in batches of random sizes, redelivering some batches to a fresh projection."""
    projection = BillingProjection(codec)
    at = 0
    while at < len(log):
        n = rng.randint(1, 40)
        batch = messages(topic, log[at : at + n], first_offset=at)
        await process(runtime, projection, batch)
        if rng.random() < 0.2:
            await process(runtime, BillingProjection(codec), batch)  # redelivered after a crash
        at += n


@pytest.fixture
async def topic(new_topic) -> str:  # type: ignore[no-untyped-def]
    return await new_topic(1)


@pytest.fixture
async def fresh_database(postgres) -> AsyncIterator[str]:  # type: ignore[no-untyped-def]
    """A second empty database on the session's server, for a rebuild."""
    name = f"test_{uuid.uuid4().hex[:16]}"
    admin = await asyncpg.connect(postgres.dsn)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    dsn = urlunsplit(urlsplit(postgres.dsn)._replace(path=f"/{name}"))
    try:
        yield dsn
    finally:
        admin = await asyncpg.connect(postgres.dsn)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


async def test_rollups_equal_the_charges_after_voids_amends_redeliveries_and_a_rebuild(
    runtime: Runtime, topic: str, fresh_database: str
) -> None:
    rng = random.Random(16)
    log = log_of_usage("ten_a", rng) + log_of_usage("ten_b", rng)
    await apply_log(runtime, topic, log, rng)

    pool = runtime.pool
    assert await pool.fetchval("SELECT count(*) FROM charges WHERE status = 'voided'") > 10
    assert await pool.fetchval("SELECT count(*) FROM charges WHERE status = 'amended'") > 10
    assert await pool.fetchval("SELECT count(DISTINCT cost IS NULL) FROM charges") == 2
    kept = await assert_rollups_exact(pool)
    assert len(kept) > 100

    # The rebuild: the same log, read from the start by a fresh worker into a fresh database.
    rebuilt = await create_pool(fresh_database, max_size=4)
    try:
        await migrate(rebuilt)
        await apply_log(Runtime(pool=rebuilt, publisher=runtime.publisher, codec=codec), topic, log, rng)
        assert await assert_rollups_exact(rebuilt) == kept
    finally:
        await rebuilt.close()


async def test_the_migration_rolls_up_charges_written_before_it(database: str) -> None:
    pool = await create_pool(database, max_size=2)
    try:
        await migrate(pool)
        await pool.execute("DELETE FROM usage_hourly; DELETE FROM usage_daily")
        await pool.execute(
            """INSERT INTO charges (tenant_id, event_id, customer, type, quantity, credits, cost, burn_table,
                                    burn_table_version, event_time, allocations, topic, partition, "offset", status)
               VALUES ('t', 'e1', 'c', 'tokens', 5, 2.5, NULL, 'default', 1, '2026-11-02T23:59:59Z', '[]', 'x', 0, 0,
                       'charged'),
                      ('t', 'e2', 'c', 'tokens', 7, 3.5, 1, 'default', 1, '2026-11-02T23:00:00Z', '[]', 'x', 0, 1,
                       'amended'),
                      ('t', 'e3', 'c', 'tokens', 9, 0, 0, 'default', 1, '2026-11-02T23:00:00Z', '[]', 'x', 0, 2,
                       'voided')"""
        )
        await pool.execute(rollup_backfill())
        await assert_rollups_exact(pool)
        assert await pool.fetchval("SELECT events FROM usage_hourly WHERE hour = '2026-11-02T23:00:00Z'") == 2
    finally:
        await pool.close()


SEED = """
INSERT INTO tenants (tenant_id, name, created_at, created_by) VALUES ($1, $1, now() - interval '2 days', 'test');
INSERT INTO customers (tenant_id, customer, debt, updated_at) VALUES ($1, 'c1', 0, now());
INSERT INTO grants (tenant_id, customer, grant_id, amount, remaining, priority, effective_at, granted_at,
                    granted_by, event_id)
VALUES ($1, 'c1', 'g1', 10, 4, 0, now() - interval '1 day', now(), 'test', 'eg');
INSERT INTO ledger_entries (tenant_id, customer, seq, kind, amount, balance, reference, at)
VALUES ($1, 'c1', 1, 'grant', 10, 10, 'g1', now());
INSERT INTO charges (tenant_id, event_id, customer, type, quantity, credits, burn_table, burn_table_version,
                     event_time, allocations, topic, partition, "offset")
VALUES ($1, 'e1', 'c1', 'tokens', 6, 6, 'default', 1, now(), '[]', 'billing', 0, 0);
INSERT INTO usage_hourly VALUES ($1, 'c1', 'tokens', date_trunc('hour', now()), 1, 6, 6, 0);
INSERT INTO usage_daily VALUES ($1, 'c1', 'tokens', current_date, 1, 6, 6, 0);
INSERT INTO assistants (tenant_id, agent_id, name, system_prompt, model, customer, event_id, created_at, updated_at)
VALUES ($1, 'a1-' || $1, 'Helper', 'be nice', 'offline', 'c1', 'ea', now(), now());
INSERT INTO conversations (tenant_id, conversation_id, agent_id, origin, started_at, last_message_at, last_seq)
VALUES ($1, 'v1', 'a1-' || $1, 'https://shop.example', now(), now(), 2);
INSERT INTO widget_sightings (tenant_id, agent_id, origin, allowed, first_seen, last_seen, sessions, refused)
VALUES ($1, 'a1-' || $1, 'https://shop.example', true, now(), now(), 1, 0);
INSERT INTO chat_messages (tenant_id, conversation_id, seq, message_id, agent_id, role, content, status, occurred_at)
VALUES ($1, 'v1', 1, 'm1', 'a1-' || $1, 'user', 'hi', 'complete', now()),
       ($1, 'v1', 2, 'm2', 'a1-' || $1, 'assistant', 'hello', 'failed', now());
INSERT INTO calls (tenant_id, call_sid, agent_id, started_at) VALUES ($1, 'CA' || $1, 'a1-' || $1, now());
INSERT INTO dead_letters (dead_letter_id, topic, stage, code, error_class, message, stack, tenant_id, value,
                          headers, attempts, replay_count, first_failed_at, last_failed_at, app_version)
VALUES ('dl-' || $1, 'billing.dlq', 'fold', 'no_matching_rule', 'Refused', 'no rule', '', $1, '\\x00', '[]', 1, 0,
        now(), now(), 'test');
"""


async def seed(pool: asyncpg.Pool, *tenants: str) -> None:
    async with pool.acquire() as conn:
        for tenant in tenants:
            for statement in SEED.strip().split(";\n"):
                await conn.execute(statement, tenant) if "$1" in statement else await conn.execute(statement)


async def views(pool: asyncpg.Pool) -> list[str]:
    found = [
        r["table_name"]
        for r in await pool.fetch(
            "SELECT table_name FROM information_schema.views WHERE table_schema = 'analytics' ORDER BY 1"
        )
    ]
    assert {"usage_daily", "charges", "ledger", "balances", "customers", "conversations", "messages", "calls",
            "dead_letters", "tenant_activation", "chat_errors_daily", "version"} <= set(found)  # fmt: skip
    return found


async def connect_as(database: str, role: str, password: str) -> asyncpg.Connection:
    dsn = urlunsplit(urlsplit(database)._replace(netloc=f"{role}:{password}@{urlsplit(database).hostname}:"
                                                        f"{urlsplit(database).port}"))  # fmt: skip
    return await asyncpg.connect(dsn)


async def tenants_seen(conn: asyncpg.Connection, view: str) -> set[str]:
    return {r[0] for r in await conn.fetch(f"SELECT DISTINCT tenant_id FROM analytics.{view}")}


async def test_a_tenant_analyst_login_reads_only_its_tenant_through_every_view(
    pool: asyncpg.Pool, database: str
) -> None:
    await seed(pool, "ten_a", "ten_b")
    names = [v for v in await views(pool) if v != "version"]
    async with pool.acquire() as conn:
        role, password = await ensure_login(conn, "ten_a", password=True)
        everyone, everyone_password = await ensure_login(conn, None, password=True)
    assert password is not None and everyone_password is not None

    # The application (the tables' owner) reads every tenant through the views.
    owner = await pool.acquire()
    try:
        for view in names:
            assert await tenants_seen(owner, view) == {"ten_a", "ten_b"}, view
    finally:
        await pool.release(owner)

    analyst = await connect_as(database, role, password)
    try:
        for view in names:
            assert await tenants_seen(analyst, view) == {"ten_a"}, view
        assert await analyst.fetchval("SELECT version FROM analytics.version") == 1
        assert await analyst.fetchval("SELECT public.revos_visible_tenants()") == ["ten_a"]
        # Unqualified names resolve in the analytics schema.
        assert await analyst.fetchval("SELECT count(*) FROM charges") == 1
        # Nothing behind the views, nothing written, no way around the filter.
        for sql in (
            "SELECT count(*) FROM public.charges",
            "SELECT count(*) FROM public.analyst_logins",
            "SET ROLE revos_analytics",
        ):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await analyst.execute(sql)
        with pytest.raises(asyncpg.ReadOnlySQLTransactionError):
            await analyst.execute("CREATE TEMP TABLE x (a int)")
        with pytest.raises((asyncpg.InsufficientPrivilegeError, asyncpg.ReadOnlySQLTransactionError)):
            await analyst.execute("UPDATE analytics.charges SET credits = 0")
        assert await analyst.fetchval("SELECT activated FROM analytics.tenant_activation") is True
        assert await analyst.fetchval("SELECT error_rate FROM analytics.chat_errors_daily") == Decimal("1")
        assert await analyst.fetchval("SELECT balance FROM analytics.balances") == Decimal("4")
    finally:
        await analyst.close()

    operator = await connect_as(database, everyone, everyone_password)
    try:
        assert await tenants_seen(operator, "charges") == {"ten_a", "ten_b"}
    finally:
        await operator.close()


async def test_an_analyst_role_without_a_registered_tenant_reads_nothing(
    pool: asyncpg.Pool, database: str
) -> None:
    await seed(pool, "ten_a")
    role = f"stray_{uuid.uuid4().hex[:8]}"
    await pool.execute(f"CREATE ROLE {role} LOGIN PASSWORD 'stray-pass' IN ROLE revos_analyst")
    try:
        stray = await connect_as(database, role, "stray-pass")
        try:
            for view in await views(pool):
                if view != "version":
                    assert await tenants_seen(stray, view) == set(), view
        finally:
            await stray.close()
    finally:
        await pool.execute(f"DROP ROLE {role}")


async def test_product_metrics_count_activation_time_to_first_value_and_chat_errors(
    pool: asyncpg.Pool,
) -> None:
    await seed(pool, "ten_a", "ten_b")
    await pool.execute(
        "INSERT INTO tenants (tenant_id, name, created_at, created_by) VALUES ('ten_new', 'n', now(), 'test')"
    )
    await pool.execute(  # one good answer of ten_b, yesterday; one failed answer of ten_b, 8 days ago
        """INSERT INTO chat_messages (tenant_id, conversation_id, seq, message_id, agent_id, role, content, status,
                                      occurred_at)
           VALUES ('ten_b', 'v1', 3, 'm3', 'a1-ten_b', 'assistant', 'ok', 'complete', now() - interval '1 day'),
                  ('ten_b', 'v1', 4, 'm4', 'a1-ten_b', 'assistant', '', 'unavailable', now() - interval '8 days')"""
    )
    async with pool.acquire() as conn:
        metrics = await product_metrics(conn)
    assert metrics["tenants"] == 3 and metrics["activated"] == 2 and metrics["activation_rate"] == 0.6667
    ttfv = metrics["time_to_first_value_seconds"]
    assert isinstance(ttfv, dict) and ttfv["tenants_live"] == 2
    assert 2 * 86400 - 60 < ttfv["median"] < 2 * 86400 + 60  # signed up two days before the live chat
    assert metrics["chat_errors_7d"] == {"answers": 3, "errors": 2, "error_rate": 0.6667}


async def test_top_customers_leave_out_a_customer_whose_usage_was_all_voided(pool: asyncpg.Pool) -> None:
    await pool.execute(
        """INSERT INTO usage_daily VALUES ('t', 'kept', 'tokens', '2026-11-02', 2, 10, 4, 0),
                                          ('t', 'voided', 'tokens', '2026-11-02', 0, 0, 0, 0)"""
    )
    day = datetime(2026, 11, 2, tzinfo=UTC).date()
    assert await analytics_reads.top_customers(pool, "t", day, day, limit=5) == [("kept", Decimal(4), 2)]


async def test_the_migrations_run_as_a_role_that_may_create_roles_but_is_no_superuser(tmp_path: Path) -> None:
    """What a managed PostgreSQL gives its main user: CREATEROLE and a database of its own, nothing more, on
    a cluster of its own (the session's already has the analytics roles, made by its superuser)."""
    cluster = EmbeddedPostgres(tmp_path / "home", free_port())
    cluster.start()
    try:
        admin = await asyncpg.connect(cluster.dsn)
        try:
            await admin.execute("CREATE ROLE app_owner LOGIN CREATEROLE PASSWORD 'owner-pass'")
            await admin.execute('CREATE DATABASE "app" OWNER app_owner')
        finally:
            await admin.close()
        parts = urlsplit(cluster.dsn)
        dsn = urlunsplit(
            parts._replace(netloc=f"app_owner:owner-pass@{parts.hostname}:{parts.port}", path="/app")
        )
        pool = await create_pool(dsn, max_size=2)
        try:
            assert 31 in await migrate(pool)
            await seed(pool, "ten_a", "ten_b")
            async with pool.acquire() as conn:
                login, password = await ensure_login(conn, "ten_a", password=True)
            assert password is not None
            analyst = await connect_as(dsn, login, password)
            try:
                for view in await views(pool):
                    if view != "version":
                        assert await tenants_seen(analyst, view) == {"ten_a"}, view
            finally:
                await analyst.close()
            # The owner reads every tenant, through the views and the tables.
            assert await pool.fetchval("SELECT count(DISTINCT tenant_id) FROM analytics.charges") == 2
            assert await pool.fetchval("SELECT count(DISTINCT tenant_id) FROM charges") == 2
        finally:
            await pool.close()
    finally:
        cluster.stop()


async def test_a_role_that_did_not_make_the_analytics_roles_is_told_what_to_grant(postgres) -> None:  # type: ignore[no-untyped-def]
    suffix = uuid.uuid4().hex[:8]
    role, name = f"owner_{suffix}", f"test_{suffix}"
    admin = await asyncpg.connect(postgres.dsn)
    try:
        await admin.execute(
            "SELECT 1 FROM pg_roles WHERE rolname = 'revos_analytics'"
        )  # made by earlier tests
        await admin.execute(f"CREATE ROLE {role} LOGIN CREATEROLE PASSWORD 'owner-pass'")
        await admin.execute(f'CREATE DATABASE "{name}" OWNER {role}')
    finally:
        await admin.close()
    parts = urlsplit(postgres.dsn)
    dsn = urlunsplit(
        parts._replace(netloc=f"{role}:owner-pass@{parts.hostname}:{parts.port}", path=f"/{name}")
    )
    try:
        pool = await create_pool(dsn, max_size=2)
        try:
            with pytest.raises(asyncpg.RaiseError, match="made by another role") as raised:
                await migrate(pool)
            assert f"GRANT revos_analytics, revos_analyst TO {role} WITH ADMIN OPTION" in str(
                raised.value.hint
            )
        finally:
            await pool.close()
        admin = await asyncpg.connect(postgres.dsn)
        try:
            await admin.execute(f"GRANT revos_analytics, revos_analyst TO {role} WITH ADMIN OPTION")
        finally:
            await admin.close()
        pool = await create_pool(dsn, max_size=2)
        try:
            assert 31 in await migrate(pool)  # after the grant the hint names
        finally:
            await pool.close()
    finally:
        admin = await asyncpg.connect(postgres.dsn)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()
