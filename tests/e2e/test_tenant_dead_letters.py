"""A tenant's own dead letters through the real stack: listed to their tenant only (never another's, never
the operator's), inspected with the record decoded, and replayed — a dry run changes nothing, a replay
sends the record once, is audited, and is not repeated; a refusal at the API goes once it passes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from e2e_stack import Stack, eventually, stack_on_new_database
from test_more_dead_letters import GARBAGE, dead_letter, produce_raw

from pipeline.topics import customer_key


@pytest.fixture(scope="module")
async def stack(service_root: Path, postgres: Any) -> AsyncIterator[Stack]:
    async with stack_on_new_database(service_root, postgres.dsn) as running:
        yield running


def at(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


async def send(api: httpx.AsyncClient, *events: dict[str, Any]) -> dict[str, Any]:
    answer = await api.post("/v1/events", json={"events": list(events)})
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


async def listed(api: httpx.AsyncClient, count: int, **params: Any) -> dict[str, Any]:
    """The tenant's dead letters once `count` of them are there."""

    async def found() -> dict[str, Any] | None:
        body: dict[str, Any] = (await api.get("/v1/dead-letters", params=params)).json()
        return body if len(body["dead_letters"]) == count else None

    answer: dict[str, Any] = await eventually(found, what=f"{count} dead letter(s) listed with {params}")
    return answer


async def charged(api: httpx.AsyncClient, customer: str) -> dict[str, dict[str, Any]]:
    answer = await api.get(f"/v1/customers/{customer}/charges", params={"limit": 500})
    return {c["event_id"]: c for c in answer.json()["charges"]} if answer.status_code == 200 else {}


async def charge_of(api: httpx.AsyncClient, customer: str, event_id: str) -> dict[str, Any]:
    async def found() -> dict[str, Any] | None:
        return (await charged(api, customer)).get(event_id)

    result: dict[str, Any] = await eventually(found, what=f"event {event_id} charged")
    return result


async def test_each_tenant_sees_its_own_dead_letters_and_never_anothers_or_the_operators(
    stack: Stack,
) -> None:
    a, b = await stack.create_tenant("tenant-a"), await stack.create_tenant("tenant-b")
    async with stack.client(a["api_key"]) as api_a, stack.client(b["api_key"]) as api_b:
        for event in (
            {"id": "a1", "customer": "c1", "type": "t", "quantity": "-1"},
            {"id": "a2", "customer": "c1", "type": "t", "quantity": "-2"},
            {"id": "a3", "customer": " c1", "type": "t"},
        ):  # one request each: the rejections of one request share their time
            assert (await send(api_a, event))["rejected"] == 1
        assert (await send(api_b, {"id": "b1", "customer": "c1", "type": "t", "quantity": "-1"}))[
            "rejected"
        ] == 1
        # The operator's: a record nobody can read has no tenant.
        partition, offset = await produce_raw(stack, customer_key(a["tenant_id"], "c1"), GARBAGE, [])
        garbage = await dead_letter(
            stack,
            "source_topic = 'revos.billing' AND source_partition = $1 AND source_offset = $2",
            partition,
            offset,
            what="the operator's dead letter",
        )

        mine = await listed(api_a, 3)
        assert [d["event_id"] for d in mine["dead_letters"]] == ["a3", "a2", "a1"]  # newest first
        assert mine["counts"] == {"negative_decimal": 2, "invalid_customer": 1}
        assert {d["stage"] for d in mine["dead_letters"]} == {"gateway.ingest"}
        theirs = await listed(api_b, 1)
        assert [d["event_id"] for d in theirs["dead_letters"]] == ["b1"]

        by_code = (await api_a.get("/v1/dead-letters", params={"code": "negative_decimal"})).json()
        assert [d["event_id"] for d in by_code["dead_letters"]] == ["a2", "a1"]
        assert by_code["counts"] == mine["counts"]  # counts are of every code
        first = (await api_a.get("/v1/dead-letters", params={"limit": 2})).json()
        rest = (
            await api_a.get("/v1/dead-letters", params={"limit": 2, "cursor": first["next_cursor"]})
        ).json()
        assert [d["event_id"] for d in first["dead_letters"] + rest["dead_letters"]] == ["a3", "a2", "a1"]
        assert rest["next_cursor"] is None
        assert (await api_a.get("/v1/dead-letters", params={"stage": "billing.charge"})).json() == {
            "dead_letters": [],
            "counts": {},
            "next_cursor": None,
        }

        shown = (await api_a.get(f"/v1/dead-letters/{mine['dead_letters'][2]['dead_letter_id']}")).json()
        assert shown["value"] == {
            "format": "json",
            "record_type": None,
            "decoded": {"id": "a1", "customer": "c1", "type": "t", "quantity": "-1"},
            "size": shown["value"]["size"],
        }
        assert shown["source"] is None and shown["code"] == "negative_decimal" and "stack" not in shown
        assert [h["key"] for h in shown["headers"]] == ["revos-request-id"]

        b1 = theirs["dead_letters"][0]["dead_letter_id"]
        for other in (b1, garbage["dead_letter_id"]):
            seen = await api_a.get(f"/v1/dead-letters/{other}")
            assert seen.status_code == 404 and seen.json()["error"]["code"] == "dead_letter_not_found"
            for dry_run in (True, False):
                tried = await api_a.post(f"/v1/dead-letters/{other}/replay", json={"dry_run": dry_run})
                assert tried.status_code == 404, tried.text
        assert (await api_b.get(f"/v1/dead-letters/{garbage['dead_letter_id']}")).status_code == 404
        assert garbage["dead_letter_id"] not in {
            d["dead_letter_id"] for d in (await api_b.get("/v1/dead-letters")).json()["dead_letters"]
        }


async def test_a_dry_run_changes_nothing_and_a_replay_sends_the_record_once_audited(stack: Stack) -> None:
    tenant = await stack.create_tenant("replays")
    async with stack.client(tenant["api_key"]) as api:
        # No burn table yet: the worker refuses the event as unpriced, with its tenant.
        event_time = datetime.now(UTC) - timedelta(minutes=10)
        event = {
            "id": "u1",
            "customer": "c1",
            "type": "report.completed",
            "quantity": "2",
            "timestamp": at(event_time),
        }
        assert (await send(api, event))["accepted"] == 1
        found = (await listed(api, 1, code="unpriced"))["dead_letters"][0]
        assert found["stage"] == "billing.charge" and found["event_id"] == "u1"
        replay = f"/v1/dead-letters/{found['dead_letter_id']}/replay"
        shown = (await api.get(f"/v1/dead-letters/{found['dead_letter_id']}")).json()
        assert shown["value"]["format"] == "avro" and shown["value"]["record_type"] == "UsageRecorded"
        assert shown["value"]["decoded"]["event_id"] == "u1" and shown["value"]["decoded"]["quantity"] == "2"
        assert shown["source"]["topic"] == "revos.billing" and shown["key"] == f"{tenant['tenant_id']}:c1"

        still = (await api.post(replay, json={"dry_run": True})).json()
        assert still["check"]["passes"] is False and still["check"]["code"] == "unpriced"
        assert still["would_replay"] is False and still["refusal"] is None
        refused = await api.post(replay, json={"dry_run": False})
        assert refused.status_code == 422 and refused.json()["error"]["code"] == "unpriced"

        rules = {"rules": [{"type": "report.completed", "credits_per_unit": "50"}, {"type": "probe", "credits_per_unit": "1"}],
                 "effective_at": at(event_time - timedelta(minutes=1))}  # fmt: skip
        assert (await api.put("/v1/burn-tables/default", json=rules)).status_code == 200
        dry = await api.post(replay, json={"dry_run": True})
        assert dry.status_code == 200, dry.text
        plan = dry.json()
        assert plan["would_replay"] is True and plan["dry_run"] is True and "status" not in plan
        assert plan["check"]["passes"] is True and plan["check"]["price"]["credits"] == "100"
        assert plan["check"]["price"]["burn_table"] == "default" and plan["check"]["price"]["version"] == 1
        assert plan["publish"]["topic"] == "revos.billing" and plan["publish"]["record"]["event_id"] == "u1"

        # Nothing was sent: a later event on the same customer (same partition, so ordered after anything
        # the dry run might have sent) is charged, and the dead-lettered one still is not.
        assert (await send(api, {"id": "probe-1", "customer": "c1", "type": "probe"}))["accepted"] == 1
        await charge_of(api, "c1", "probe-1")
        assert "u1" not in await charged(api, "c1")
        assert (await api.get(f"/v1/dead-letters/{found['dead_letter_id']}")).json()["replays"] == 0
        assert (await api.get("/v1/audit", params={"action": "dead_letter.replay"})).json()["entries"] == []

        done = await api.post(replay, json={"dry_run": False})
        assert done.status_code == 200, done.text
        assert done.json()["status"] == "applied" and done.json()["check"]["passes"] is True
        charge = await charge_of(api, "c1", "u1")
        assert charge["credits"] == "100" and charge["event_time"] == at(event_time)
        again = await api.post(replay, json={})
        assert again.status_code == 409 and again.json()["error"]["code"] == "already_replayed"
        dry_again = (await api.post(replay, json={"dry_run": True})).json()
        assert dry_again["would_replay"] is False and dry_again["refusal"]["code"] == "already_replayed"
        assert dry_again["check"]["code"] == "already_charged"

        # Sent once: one replay recorded on the dead letter, one audit entry, one charge.
        assert (await send(api, {"id": "probe-2", "customer": "c1", "type": "probe"}))["accepted"] == 1
        await charge_of(api, "c1", "probe-2")
        shown = (await api.get(f"/v1/dead-letters/{found['dead_letter_id']}")).json()
        assert shown["replays"] == 1 and shown["last_replayed_at"] is not None
        entries = (await api.get("/v1/audit", params={"action": "dead_letter.replay"})).json()["entries"]
        assert len(entries) == 1
        assert entries[0]["target"] == f"dead_letter:{found['dead_letter_id']}"
        assert entries[0]["actor"] == f"key:{tenant['key_id']}"
        assert entries[0]["before"] == {"replays": 0}
        assert entries[0]["after"] == {"replays": 1, "topic": "revos.billing", "event_id": "u1"}
        assert (await listed(api, 1))["counts"] == {
            "unpriced": 1
        }  # the replay was charged, not refused again

        bad = await api.post(replay, json={"dry_run": "yes"})
        assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_dry_run"
        unknown = await api.post(replay, json={"dry_run": True, "force": True})
        assert unknown.status_code == 400 and unknown.json()["error"]["code"] == "unknown_field"


async def test_a_refusal_at_the_api_is_checked_again_and_sent_once_it_passes(stack: Stack) -> None:
    tenant = await stack.create_tenant("early")
    async with stack.client(tenant["api_key"]) as api:
        assert (
            await api.put("/v1/burn-tables/default", json={"rules": [{"type": "t", "credits_per_unit": "3"}]})
        ).status_code == 200
        # Sent a few seconds too early: more than 5 minutes ahead. It passes once its time comes.
        early = datetime.now(UTC) + timedelta(minutes=5, seconds=4)
        sent = await send(
            api,
            {"id": "soon", "customer": "c2", "type": "t", "timestamp": at(early)},
            {"id": "never", "customer": "c2", "type": "t", "quantity": "-5"},
        )
        assert sent["rejected"] == 2
        rows = {d["event_id"]: d for d in (await listed(api, 2))["dead_letters"]}
        soon = f"/v1/dead-letters/{rows['soon']['dead_letter_id']}/replay"
        never = f"/v1/dead-letters/{rows['never']['dead_letter_id']}/replay"

        plan = (await api.post(never, json={"dry_run": True})).json()
        assert plan["check"] == {
            "passes": False,
            "code": "negative_decimal",
            "message": plan["check"]["message"],
            "price": None,
        }
        assert plan["publish"] is None and plan["would_replay"] is False
        refused = await api.post(never, json={"dry_run": False})
        assert refused.status_code == 422 and refused.json()["error"]["code"] == "negative_decimal"

        first = (await api.post(soon, json={"dry_run": True})).json()
        assert first["check"]["code"] == "timestamp_out_of_window"
        too_soon = await api.post(soon, json={"dry_run": False})
        assert too_soon.status_code == 422 and too_soon.json()["error"]["code"] == "timestamp_out_of_window"

        async def passes() -> dict[str, Any] | None:
            body: dict[str, Any] = (await api.post(soon, json={"dry_run": True})).json()
            return body if body["check"]["passes"] else None

        ready = await eventually(passes, timeout=30, every=0.5, what="the early event to be in time")
        assert ready["publish"]["record"]["event_id"] == "soon" and ready["check"]["price"]["credits"] == "3"
        done = await api.post(soon, json={"dry_run": False})
        assert done.status_code == 200, done.text
        assert (await charge_of(api, "c2", "soon"))["event_time"] == at(early)
        assert (await api.post(soon, json={})).status_code == 409


async def test_one_refused_event_of_a_request_is_dead_lettered_alone_and_replayed_alone(stack: Stack) -> None:
    tenant = await stack.create_tenant("batched")
    async with stack.client(tenant["api_key"]) as api:
        now = datetime.now(UTC)
        rules: dict[str, Any] = {
            "rules": [{"type": "t", "credits_per_unit": "2"}],
            "effective_at": at(now - timedelta(minutes=20)),
        }
        assert (await api.put("/v1/burn-tables/default", json=rules)).status_code == 200
        when = at(now - timedelta(minutes=10))
        events = [{"id": f"b{i}", "customer": "c1", "type": "t", "timestamp": when} for i in range(5)]
        events.insert(2, {"id": "v1", "customer": "c1", "type": "video", "quantity": "3", "timestamp": when})
        events.append({"id": "b1", "customer": "c1", "type": "t", "timestamp": when})  # a duplicate in it
        assert (await send(api, *events))["accepted"] == 7
        # Same customer, so one partition: the request is one record, and its refused event goes alone.
        found = (await listed(api, 1, code="unpriced"))["dead_letters"][0]
        assert found["event_id"] == "v1" and found["stage"] == "billing.charge"
        shown = (await api.get(f"/v1/dead-letters/{found['dead_letter_id']}")).json()
        assert (
            shown["value"]["record_type"] == "UsageRecorded" and shown["key"] == f"{tenant['tenant_id']}:c1"
        )
        assert shown["value"]["decoded"]["event_id"] == "v1" and shown["value"]["decoded"]["quantity"] == "3"
        for i in range(5):
            await charge_of(api, "c1", f"b{i}")
        assert stack.pool is not None
        offsets = await stack.pool.fetch(
            'SELECT DISTINCT "offset" FROM charges WHERE tenant_id = $1', tenant["tenant_id"]
        )
        assert [r["offset"] for r in offsets] == [shown["source"]["offset"]]  # all from the batch record
        assert len(await charged(api, "c1")) == 5  # b1 twice in the request, charged once

        rules["rules"].append({"type": "video", "credits_per_unit": "10"})
        rules["effective_at"] = at(now - timedelta(minutes=15))  # in force when the events happened
        assert (await api.put("/v1/burn-tables/default", json=rules)).status_code == 200
        done = await api.post(f"/v1/dead-letters/{found['dead_letter_id']}/replay", json={"dry_run": False})
        assert done.status_code == 200, done.text
        assert (await charge_of(api, "c1", "v1"))["credits"] == "30"
        assert (await send(api, {"id": "probe", "customer": "c1", "type": "t"}))["accepted"] == 1
        await charge_of(api, "c1", "probe")  # ordered after the replay: nothing else came of it
        assert len(await charged(api, "c1")) == 7
        balance = (await api.get("/v1/customers/c1/balance")).json()
        assert Decimal(balance["balance"]) == Decimal(
            -42
        )  # six events of 2 credits and the replayed 30, as debt
