"""A tenant's API keys end to end: issued and shown once, listed, rotated with a grace period, revoked at
once, never the last one, audited, and invisible to other tenants."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import httpx
import orjson
from credits_api import audited
from e2e_stack import Stack, eventually

from infra.ports import free_port


async def test_keys_are_issued_rotated_with_grace_revoked_at_once_and_audited(stack: Stack) -> None:
    tenant = await stack.create_tenant("keys")
    other = await stack.create_tenant("other")
    root = tenant["key_id"]
    async with stack.client(tenant["api_key"]) as api:
        listed = (await api.get("/v1/keys")).json()["keys"]
        assert [(k["key_id"], k["status"], k["current"], k["revoked_at"]) for k in listed] == [
            (root, "active", True, None)
        ]
        last = await api.post(f"/v1/keys/{root}/revoke")
        assert (last.status_code, last.json()["error"]["code"]) == (409, "last_key")
        issued = await api.post("/v1/keys")
        assert issued.status_code == 201, issued.text
        second = issued.json()
        assert second["status"] == "applied" and second["api_key"].startswith(second["prefix"])
        assert second["key_id"] != root
        refused = await api.post("/v1/keys", json={"name": "x"})
        assert (refused.status_code, refused.json()["error"]["code"]) == (400, "unknown_field")

    async with stack.client(second["api_key"]) as api:
        for body, code in (({"grace_seconds": -1}, "invalid_grace_seconds"),
                           ({"grace_seconds": "60"}, "invalid_grace_seconds"),
                           ({"grace": 60}, "unknown_field")):  # fmt: skip
            bad = await api.post(f"/v1/keys/{root}/rotate", json=body)
            assert (bad.status_code, bad.json()["error"]["code"]) == (400, code), body
        asked = datetime.now(UTC)
        rotated = await api.post(f"/v1/keys/{root}/rotate", json={"grace_seconds": 8})
        answered = datetime.now(UTC)
        assert rotated.status_code == 201, rotated.text
        third = rotated.json()
        ends = datetime.fromisoformat(third["replaces"]["revoked_at"])
        assert third["replaces"]["key_id"] == root
        assert asked + timedelta(seconds=8) <= ends <= answered + timedelta(seconds=8)

    async with stack.client(tenant["api_key"]) as api:  # the rotated key works through its grace period
        assert (await api.get("/v1/keys")).status_code == 200
        for path in ("/v1/keys", f"/v1/keys/{third['key_id']}/revoke", f"/v1/keys/{second['key_id']}/rotate"):
            managing = await api.post(path)  # ...but no longer manages keys: its successor does
            assert (managing.status_code, managing.json()["error"]["code"]) == (403, "insufficient_scope"), (
                path
            )
        assert datetime.now(UTC) < ends, (
            "the rotation took the whole grace period: the check above proved nothing"
        )

        async def stopped() -> bool:
            return (await api.get("/v1/keys")).status_code == 401

        await eventually(stopped, timeout=20, what="the rotated key to stop working")
        assert datetime.now(UTC) >= ends - timedelta(milliseconds=200)

    async with stack.client(third["api_key"]) as api:
        again = await api.post(f"/v1/keys/{root}/rotate")
        assert (again.status_code, again.json()["error"]["code"]) == (409, "key_revoked")
        revoked = await api.post(f"/v1/keys/{second['key_id']}/revoke")
        assert revoked.status_code == 200 and revoked.json()["status"] == "applied", revoked.text
        repeated = await api.post(f"/v1/keys/{second['key_id']}/revoke", json={"grace_seconds": 60})
        assert repeated.json()["status"] == "unchanged"  # the earliest revocation stands
        statuses = {
            k["key_id"]: (k["status"], k["current"]) for k in (await api.get("/v1/keys")).json()["keys"]
        }
        assert statuses == {
            root: ("revoked", False),
            second["key_id"]: ("revoked", False),
            third["key_id"]: ("active", True),
        }
    async with stack.client(second["api_key"]) as api:  # revoked at once in the gateway that revoked it
        gone = await api.get("/v1/keys")
        assert (gone.status_code, gone.json()["error"]["code"]) == (401, "invalid_api_key")

    async with stack.client(other["api_key"]) as them:
        for path in (f"/v1/keys/{third['key_id']}/revoke", f"/v1/keys/{third['key_id']}/rotate"):
            hidden = await them.post(path)
            assert (hidden.status_code, hidden.json()["error"]["code"]) == (404, "key_not_found"), path
        assert [k["key_id"] for k in (await them.get("/v1/keys")).json()["keys"]] == [other["key_id"]]

    async with stack.client(third["api_key"]) as api:
        issues = await audited(api, "api_key.issue", 3)  # the tenant's first key, POST /v1/keys, the rotation
        assert [e["target"] for e in issues] == [
            f"api_key:{k}" for k in (root, second["key_id"], third["key_id"])
        ]
        revokes = await audited(api, "api_key.revoke", 2)
        assert [(e["target"], e["before"], e["actor"]) for e in revokes] == [
            (f"api_key:{root}", {"revoked_at": None}, f"key:{second['key_id']}"),
            (f"api_key:{second['key_id']}", {"revoked_at": None}, f"key:{third['key_id']}"),
        ]
        assert datetime.fromisoformat(revokes[0]["after"]["revoked_at"]) == ends


async def test_an_operator_issues_a_tenant_another_key_from_the_command_line(stack: Stack) -> None:
    tenant = await stack.create_tenant("lost-key")
    made = stack.cli("tenant", "key", tenant["tenant_id"])
    assert made.returncode == 0, made.stderr
    issued = orjson.loads(made.stdout)
    assert issued["tenant_id"] == tenant["tenant_id"] and issued["key_id"] != tenant["key_id"]
    async with stack.client(issued["api_key"]) as api:
        listed = {k["key_id"]: k["current"] for k in (await api.get("/v1/keys")).json()["keys"]}
        assert listed == {tenant["key_id"]: False, issued["key_id"]: True}
        (entry,) = [e for e in await audited(api, "api_key.issue", 2) if e["actor"] == "cli" and
                    e["target"] == f"api_key:{issued['key_id']}"]  # fmt: skip
        assert entry["after"] == {
            "key_id": issued["key_id"],
            "prefix": issued["key_prefix"],
            "scope": "admin",
        }
    ingest = stack.cli("tenant", "key", tenant["tenant_id"], "--scope", "ingest")
    assert ingest.returncode == 0, ingest.stderr
    assert orjson.loads(ingest.stdout)["scope"] == "ingest"
    async with stack.client(orjson.loads(ingest.stdout)["api_key"]) as api:
        refused = await api.get("/v1/keys")
        assert (refused.status_code, refused.json()["error"]["code"]) == (403, "insufficient_scope")
    unknown = stack.cli("tenant", "key", "ten_0000000000000000")
    assert unknown.returncode == 1 and "no tenant ten_0000000000000000" in unknown.stderr


async def test_a_revocation_reaches_every_gateway_at_once(stack: Stack) -> None:
    tenant = await stack.create_tenant("two-gateways")
    port = free_port()
    # A long cache on the second gateway: only the notification can make it refuse the key in time.
    other = stack.spawn_gateway(
        "gateway-2", {"REVOS_GATEWAY_PORT": str(port), "REVOS_AUTH_CACHE_SECONDS": "60"}
    )
    try:
        await stack.wait_ready(url=f"http://127.0.0.1:{port}")
        assert stack.pool is not None

        async def both_listening() -> bool:
            n = await stack.pool.fetchval(  # type: ignore[union-attr]
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND query = 'LISTEN \"revos_api_keys\"'"
            )
            return bool(n == 2)

        await eventually(both_listening, what="both gateways listening for revocations")
        async with stack.client(tenant["api_key"]) as api:
            spare = (await api.post("/v1/keys")).json()
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {spare['api_key']}"}
        ) as there:
            assert (await there.get("/v1/keys")).status_code == 200  # now in that gateway's cache (60 s)
            async with stack.client(tenant["api_key"]) as api:
                revoked = await api.post(f"/v1/keys/{spare['key_id']}/revoke")
                assert revoked.json()["status"] == "applied", revoked.text
            done = datetime.now(UTC)

            async def refused() -> bool:
                return (await there.get("/v1/keys")).status_code == 401

            await eventually(refused, timeout=15, every=0.02, what="the other gateway to refuse the key")
            assert datetime.now(UTC) - done < timedelta(seconds=15)  # the cache would have served it for 60 s
    finally:
        other.stop(10)


async def test_an_ingest_key_meters_usage_and_reads_balances_but_manages_nothing(stack: Stack) -> None:
    tenant = await stack.create_tenant("scopes")
    async with stack.client(tenant["api_key"]) as api:
        bad = await api.post("/v1/keys", json={"scope": "read"})
        assert (bad.status_code, bad.json()["error"]["code"]) == (400, "invalid_scope")
        issued = await api.post("/v1/keys", json={"scope": "ingest"})
        assert issued.status_code == 201 and issued.json()["scope"] == "ingest", issued.text
        ingest = issued.json()
        scopes = {k["key_id"]: k["scope"] for k in (await api.get("/v1/keys")).json()["keys"]}
        assert scopes == {tenant["key_id"]: "admin", ingest["key_id"]: "ingest"}

    async with stack.client(ingest["api_key"]) as api:
        sent = await api.post("/v1/events", json={"events": [{"id": "e1", "customer": "c1", "type": "t"}]})
        assert sent.status_code == 200, sent.text
        for path in ("/v1/customers/c1/balance", "/v1/customers/c1/entitlements"):
            read = await api.get(path)  # allowed: found, or not yet (the event is being applied)
            assert read.status_code in (200, 404), (path, read.text)
        checked = await api.post("/v1/check", json={"customer": "c1", "feature": "f"})
        assert checked.status_code != 403, checked.text
        for method, path in (("GET", "/v1/keys"), ("POST", "/v1/keys"), ("GET", "/v1/audit"),
                             ("PUT", "/v1/burn-tables/main"), ("GET", "/v1/customers/c1/charges"),
                             ("POST", "/v1/customers/c1/grants"), ("GET", "/v1/agents"),
                             ("POST", f"/v1/keys/{tenant['key_id']}/revoke")):  # fmt: skip
            refused = await api.request(method, path, json={})
            assert (refused.status_code, refused.json()["error"]["code"]) == (403, "insufficient_scope"), path
            assert "admin" in refused.json()["error"]["message"]

    async with stack.client(tenant["api_key"]) as api:
        # An ingest key does not keep the tenant managed: the last admin key stays.
        last = await api.post(f"/v1/keys/{tenant['key_id']}/revoke")
        assert (last.status_code, last.json()["error"]["code"]) == (409, "last_key")
        rotated = await api.post(f"/v1/keys/{ingest['key_id']}/rotate", json={"grace_seconds": 0})
        assert rotated.status_code == 201 and rotated.json()["scope"] == "ingest", rotated.text  # same scope


async def test_two_revocations_racing_for_the_last_two_admin_keys_leave_one(stack: Stack) -> None:
    tenant = await stack.create_tenant("racing")
    async with stack.client(tenant["api_key"]) as api:
        spare = (await api.post("/v1/keys")).json()
    for _ in range(3):  # each round: two admin keys, each revoking the other at once
        async with stack.client(tenant["api_key"]) as one, stack.client(spare["api_key"]) as other:
            answers = await asyncio.gather(
                one.post(f"/v1/keys/{spare['key_id']}/revoke"),
                other.post(f"/v1/keys/{tenant['key_id']}/revoke"),
            )
        outcomes = sorted((a.status_code, a.json().get("error", {}).get("code")) for a in answers)
        assert outcomes == [(200, None), (409, "last_key")], [a.text for a in answers]
        survivor = spare if answers[0].status_code == 409 else tenant
        async with stack.client(survivor["api_key"]) as api:
            live = [k for k in (await api.get("/v1/keys")).json()["keys"] if k["status"] == "active"]
            assert [k["key_id"] for k in live] == [survivor["key_id"]]
            tenant, spare = survivor, (await api.post("/v1/keys")).json()
    async with stack.client(tenant["api_key"]) as api:  # each refusal is audited next to its attempt
        refusals = await audited(api, "api_key.revoke_refused", 3)
        assert all(e["after"] == {"revoked_at": None} for e in refusals)
