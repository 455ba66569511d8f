"""The audit log end to end: every write leaves one entry; the table refuses edits; tampering is found."""

from __future__ import annotations

import subprocess

import asyncpg
import pytest
from e2e_stack import Stack, eventually


def revos(stack: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    return stack.cli(*args)


async def test_every_write_leaves_one_audit_entry_and_tampering_is_found(stack: Stack) -> None:
    tenant = await stack.create_tenant("acme")
    other = await stack.create_tenant("other")
    async with stack.client(tenant["api_key"]) as api:
        rules = {"rules": [{"type": "t", "credits_per_unit": "1"}]}
        assert (await api.put("/v1/burn-tables/default", json=rules)).status_code == 200
        rules["rules"][0]["credits_per_unit"] = "2"
        assert (await api.put("/v1/burn-tables/default", json=rules)).status_code == 200
        assert (
            await api.post("/v1/customers/c1/grants", json={"amount": "10", "id": "g1"})
        ).status_code == 201
        assert (
            await api.post("/v1/customers/c1/grants", json={"amount": "10", "id": "g1"})
        ).status_code == 200

        async def entries() -> list[dict] | None:  # type: ignore[type-arg]
            found = (await api.get("/v1/audit")).json()["entries"]
            return found if len(found) == 5 else None

        log = await eventually(entries, what="five audit entries")
        assert [e["action"] for e in log] == [
            "tenant.create", "api_key.issue", "burn_table.publish", "burn_table.publish", "grant.create"
        ]  # fmt: skip
        assert [e["seq"] for e in log] == [1, 2, 3, 4, 5]
        first, second = log[2], log[3]
        assert first["before"] is None and first["after"]["rules"][0]["credits_per_unit"] == "1"
        assert second["before"]["version"] == 1 and second["after"]["version"] == 2
        assert second["before"]["rules"][0]["credits_per_unit"] == "1"
        assert log[4]["target"] == "customer:c1/grant:g1" and log[4]["after"]["amount"] == "10"
        assert log[4]["actor"] == f"key:{tenant['key_id']}" and log[4]["request_id"].startswith("req_")
        assert log[4]["actor_key_prefix"] == tenant["key_prefix"]
        assert log[0]["actor"] == "cli" and log[0]["actor_key_prefix"] is None

        filtered = (await api.get("/v1/audit", params={"action": "burn_table.publish"})).json()["entries"]
        assert [e["seq"] for e in filtered] == [3, 4]
        paged = (await api.get("/v1/audit", params={"limit": 2})).json()
        assert [e["seq"] for e in paged["entries"]] == [1, 2] and paged["next_cursor"] == "2"
        rest = (await api.get("/v1/audit", params={"cursor": paged["next_cursor"]})).json()["entries"]
        assert [e["seq"] for e in rest] == [3, 4, 5]

    async with stack.client(other["api_key"]) as api:
        theirs = (await api.get("/v1/audit")).json()["entries"]
        assert [e["action"] for e in theirs] == ["tenant.create", "api_key.issue"]  # nothing of acme's

    verified = revos(stack, "audit", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert f"{tenant['tenant_id']}: ok (5 entries)" in verified.stdout

    assert stack.pool is not None
    for sql in ("UPDATE audit_log SET actor = 'x'", "DELETE FROM audit_log", "TRUNCATE audit_log"):
        with pytest.raises(asyncpg.exceptions.InsufficientPrivilegeError, match="append-only"):
            await stack.pool.execute(sql)

    # The database owner can disable the trigger; the chain still gives the change away.
    async with stack.pool.acquire() as conn, conn.transaction():
        await conn.execute("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only")
        await conn.execute(
            "UPDATE audit_log SET after_text = replace(after_text, '\"10\"', '\"1000\"') "
            "WHERE tenant_id = $1 AND seq = 5",
            tenant["tenant_id"],
        )
        await conn.execute("ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only")
    tampered = revos(stack, "audit", "verify", "--tenant", tenant["tenant_id"])
    assert tampered.returncode == 1
    assert f"{tenant['tenant_id']}: BROKEN, 1 break(s)" in tampered.stdout
    assert "seq 5 (audit id" in tampered.stdout and "grant.create" in tampered.stdout
    assert "does not match its seal" in tampered.stdout
    assert revos(stack, "audit", "verify", "--tenant", other["tenant_id"]).returncode == 0
