"""The admin writer never lets revocations take a tenant's last admin key, even two racing each other:
they are decided one at a time, and the later one is refused (and stays refused)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import asyncpg
from waiting import eventually

from pipeline.admin import actions as admin
from pipeline.admin.keys import INGEST
from pipeline.records import ApiKeyRevoked
from projections import admin as store

NOW = datetime(2026, 3, 1, tzinfo=UTC)


async def tenant_with_keys(pool: asyncpg.Pool, *scopes: str) -> tuple[str, list[str]]:
    made = admin.create_tenant("racing", actor="cli", now=NOW)
    keys = [admin.issue_key(made.tenant.tenant_id, actor="cli", now=NOW, scope=s).record for s in scopes]
    async with pool.acquire() as conn, conn.transaction():
        await store.create_tenant(conn, made.tenant)
        for k in (made.key, *keys):
            await store.issue_key(conn, k)
    return made.tenant.tenant_id, [made.key.key_id, *(k.key_id for k in keys)]


def revocation(tenant_id: str, key_id: str) -> ApiKeyRevoked:
    return admin.revoke_key(tenant_id, key_id, after=timedelta(0), actor="key:x", now=NOW)


async def live(pool: asyncpg.Pool, tenant_id: str) -> list[str]:
    rows = await store.keys(pool, tenant_id)
    return [r["key_id"] for r in rows if r["revoked_at"] is None]


async def test_two_revocations_racing_for_the_last_two_admin_keys_leave_one(pool: asyncpg.Pool) -> None:
    tenant_id, (first, second) = await tenant_with_keys(pool, "admin")
    a, b = revocation(tenant_id, first), revocation(tenant_id, second)
    async with pool.acquire() as one, pool.acquire() as other:
        one_tx = one.transaction()
        await one_tx.start()
        await store.revoke_key(one, a)
        other_pid = other.get_server_pid()
        racing = asyncio.create_task(_in_transaction(other, b))

        async def waiting_for_the_first() -> bool:
            state = await pool.fetchval(
                "SELECT wait_event_type FROM pg_stat_activity WHERE pid = $1", other_pid
            )
            return bool(state == "Lock")

        await eventually(waiting_for_the_first, timeout=5, what="the second revocation to wait for the first")
        await one_tx.commit()
        await racing

    assert await live(pool, tenant_id) == [second]
    refused = await pool.fetch("SELECT event_id, key_id FROM api_key_revocations_refused")
    assert [(r["event_id"], r["key_id"]) for r in refused] == [(b.event_id, second)]
    answer = await pool.fetchval(store.REVOKED, tenant_id, second, b.revoke_at, b.event_id)
    assert answer is True  # what the gateway waiting on it reads: refused


async def test_a_refused_revocation_stays_refused_when_its_record_comes_again(pool: asyncpg.Pool) -> None:
    tenant_id, (root,) = await tenant_with_keys(pool)
    last = revocation(tenant_id, root)
    await revoke(pool, last)
    spare = admin.issue_key(tenant_id, actor="cli", now=NOW).record
    async with pool.acquire() as conn, conn.transaction():
        await store.issue_key(conn, spare)

    await revoke(pool, last)  # redelivered: with the spare key it would pass now, but it was decided

    assert sorted(await live(pool, tenant_id)) == sorted([root, spare.key_id])


async def test_ingest_keys_do_not_count_and_may_always_be_revoked(pool: asyncpg.Pool) -> None:
    tenant_id, (root, ingest) = await tenant_with_keys(pool, INGEST)
    for key_id in (root, ingest):
        await revoke(pool, revocation(tenant_id, key_id))

    assert await live(pool, tenant_id) == [root]


async def revoke(pool: asyncpg.Pool, record: ApiKeyRevoked) -> None:
    async with pool.acquire() as conn:
        await _in_transaction(conn, record)


async def _in_transaction(conn: asyncpg.Connection, record: ApiKeyRevoked) -> None:
    async with conn.transaction():
        await store.revoke_key(conn, record)
