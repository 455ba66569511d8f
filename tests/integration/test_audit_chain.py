"""The audit chain on a real PostgreSQL: genuine entries verify, forgeries and cut tails do not, and
`revos audit verify` lists every break."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest

from agents.audit import AuditProjection
from agents.runner import Message, Runtime, process
from infra import audit_heads
from infra.cli import audit as audit_cli
from pipeline.admin import audit
from pipeline.codec import default_codec
from pipeline.settings import Settings
from pipeline.topics import AUDIT
from projections import audit as store
from projections.db import create_pool, migrate

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
SEAL = audit.Seal(bytes(range(32)))


@pytest.fixture
async def pool(database: str) -> AsyncIterator[asyncpg.Pool]:
    p = await create_pool(database, max_size=2)
    await migrate(p)
    try:
        yield p
    finally:
        await p.close()


async def write(pool: asyncpg.Pool, heads: Path, n: int, tenant: str = "ten_a", **values: object) -> None:
    """`n` entries through the audit stream processor, as the worker applies them."""
    codec = default_codec()
    projection = AuditProjection(codec, SEAL, heads)
    runtime = Runtime(pool=pool, publisher=None, codec=codec)  # type: ignore[arg-type]
    offset = await pool.fetchval("SELECT count(*) FROM audit_log")
    for i in range(n):
        r = audit.record(
            tenant_id=tenant, actor="key:k1", action="grant.create", target=f"customer:c/grant:g{i}",
            before=values.get("before"), after=values.get("after", {"amount": str(i)}),
            request_id=f"req_{i}", now=NOW + timedelta(seconds=i),
        )  # fmt: skip
        message = Message(AUDIT, 0, offset + i, tenant.encode(), codec.encode(r), (), NOW)
        await process(runtime, projection, [message])


async def verify(pool: asyncpg.Pool, heads: Path) -> tuple[list[audit.Verdict], list[str], int]:
    verdicts = await store.verify(pool, None, SEAL, audit_heads.published(heads))
    lines, code = audit_cli.report(verdicts)
    return verdicts, lines, code


async def tamper(pool: asyncpg.Pool, sql: str, *args: object) -> None:
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("ALTER TABLE audit_log DISABLE TRIGGER USER")
        await conn.execute(sql, *args)
        await conn.execute("ALTER TABLE audit_log ENABLE TRIGGER USER")


async def test_a_genuine_entry_with_numbers_jsonb_rewrites_verifies(
    pool: asyncpg.Pool, tmp_path: Path
) -> None:
    before, after = {"limit": 1e16, "z": -0.0}, {"limit": -0.0, "big": 1e16, "f": 0.1}
    await write(pool, tmp_path, 2, before=before, after=after)
    [verdict], lines, code = await verify(pool, tmp_path)
    assert (verdict.entries, verdict.breaks, code) == (2, (), 0), lines
    assert lines == ["ten_a: ok (2 entries)"]
    [shown, _] = await store.page(pool, "ten_a", target=None, action=None, since=None, after_seq=0, limit=5)
    assert shown["before"] == before and shown["after"] == after  # the same values (1e16 == 10**16)


async def test_a_rewritten_row_with_a_recomputed_unkeyed_hash_is_found(
    pool: asyncpg.Pool, tmp_path: Path
) -> None:
    await write(pool, tmp_path, 3)
    # A forger with database rights rewrites entry 2 and seals it again the only way they can.
    row = dict(await pool.fetchrow("SELECT * FROM audit_log WHERE seq = 2"))
    row.update(actor="key:evil", before=None, after={"amount": "1"})
    forged = audit.legacy_hash(row["prev_hash"], row)
    await tamper(pool, "UPDATE audit_log SET actor = 'key:evil', hash = $1 WHERE seq = 2", forged)
    [verdict], lines, code = await verify(pool, tmp_path)
    assert code == 1 and [b.seq for b in verdict.breaks] == [2, 3], lines
    # ... or passes it off as a legacy (unkeyed) entry: unkeyed entries never follow keyed ones.
    await tamper(pool, "UPDATE audit_log SET chain_version = 1, after = $1 WHERE seq = 2", {"amount": "1"})
    [verdict], lines, code = await verify(pool, tmp_path)
    assert code == 1 and "unkeyed entry after keyed ones" in "\n".join(lines)


async def test_a_cut_tail_is_found(pool: asyncpg.Pool, tmp_path: Path) -> None:
    await write(pool, tmp_path, 4)
    assert audit_heads.published(tmp_path)["ten_a"].seq == 4
    await tamper(pool, "DELETE FROM audit_log WHERE seq >= 3")
    [verdict], lines, code = await verify(pool, tmp_path)
    assert code == 1 and [b.seq for b in verdict.breaks] == [4], lines
    assert "chain ends at seq 2: its tail was cut" in lines[1]
    await tamper(pool, "DELETE FROM audit_log")  # the whole chain gone: the published head still tells
    [verdict], lines, code = await verify(pool, tmp_path)
    assert code == 1 and verdict.tenant_id == "ten_a" and verdict.entries == 0


async def test_every_break_is_listed(pool: asyncpg.Pool, tmp_path: Path) -> None:
    await write(pool, tmp_path, 8)
    await tamper(pool, "UPDATE audit_log SET actor = 'key:evil' WHERE seq IN (2, 5)")
    await tamper(pool, "DELETE FROM audit_log WHERE seq = 7")
    [verdict], lines, code = await verify(pool, tmp_path)
    assert code == 1 and [b.seq for b in verdict.breaks] == [2, 5, 8], lines
    assert lines[0] == "ten_a: BROKEN, 3 break(s) in 7 entries"


async def test_legacy_entries_still_verify_and_are_reported_as_legacy(
    pool: asyncpg.Pool, tmp_path: Path
) -> None:
    prev = audit.GENESIS
    for seq in (1, 2):  # as an earlier version wrote them: jsonb before/after, unkeyed SHA-256
        fields = {
            "seq": seq, "audit_id": f"aud_{seq}", "tenant_id": "ten_a", "actor": "cli", "action": "tenant.create",
            "target": "tenant:ten_a", "before": None, "after": {"name": "acme"}, "request_id": None,
            "occurred_at": NOW,
        }  # fmt: skip
        digest = audit.legacy_hash(prev, fields)
        await pool.execute(
            "INSERT INTO audit_log (tenant_id, seq, audit_id, actor, action, target, before, after, request_id, "
            "occurred_at, prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
            *[fields[k] for k in ("tenant_id", "seq", "audit_id", "actor", "action", "target", "before",
                                  "after", "request_id", "occurred_at")], prev, digest,
        )  # fmt: skip
        prev = digest
    await write(pool, tmp_path, 2)  # the keyed entries that follow seal the legacy ones in
    [verdict], lines, code = await verify(pool, tmp_path)
    assert code == 0 and verdict.legacy == 2, lines
    assert lines == ["ten_a: ok (4 entries, 2 of them legacy (unkeyed, written by an earlier version))"]


async def test_a_chain_checked_with_another_key_says_so(pool: asyncpg.Pool, tmp_path: Path) -> None:
    await write(pool, tmp_path, 1)
    other = audit.Seal(b"\x01" * 32)
    [verdict] = await store.verify(pool, None, other, {})
    assert "sealed with another key" in verdict.breaks[0].reason


async def test_the_cli_lists_the_breaks_and_fails(
    pool: asyncpg.Pool, database: str, tmp_path: Path, capsys
) -> None:  # type: ignore[no-untyped-def]
    settings = Settings(home=tmp_path, database_url=database, audit_key=SEAL.key.hex())
    await write(pool, settings.audit_heads, 3)
    await tamper(pool, "UPDATE audit_log SET target = 'x' WHERE seq IN (1, 3)")
    code = await audit_cli._verify(type("Args", (), {"tenant": None})(), settings)
    out = capsys.readouterr().out
    assert code == 1 and "seq 1 " in out and "seq 3 " in out, out
