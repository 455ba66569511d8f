"""The whole stack: a tenant's alert webhook endpoints receive balance.threshold_crossed, grant.expired and
dead_letter.created, signed with the secret shown once, exactly once by webhook-id through a failing and
a hanging receiver and a worker killed mid-retry; redelivered on request; disabled after persistent
failure (audited as revos) and enabled again; another tenant's endpoint is a 404."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from e2e_stack import start_stack
from standardwebhooks import Webhook
from waiting import eventually
from webhook_receiver import Receiver

TABLE = {"rules": [{"type": "t", "credits_per_unit": "1"}]}
# Short retries so the tests stay quick: 2-4 s after the first failure, 4-8 s after the second.
RETRYING = {
    "REVOS_TOOLS_ALLOW_PRIVATE": "true",  # the receiver is on loopback
    "REVOS_WEBHOOK_TIMEOUT_SECONDS": "1",
    "REVOS_WEBHOOK_RETRY_FIRST_SECONDS": "4",
    "REVOS_WEBHOOK_RETRY_CAP_SECONDS": "8",
}


async def endpoint(api: httpx.AsyncClient, url: str, *types: str) -> dict[str, Any]:
    made = await api.post("/v1/webhooks", json={"url": url, "event_types": list(types)})
    assert made.status_code == 201, made.text
    body: dict[str, Any] = made.json()
    assert body["secret"].startswith("whsec_") and body["enabled"] is True
    return body


async def deliveries(api: httpx.AsyncClient, endpoint_id: str) -> list[dict[str, Any]]:
    answer = await api.get(f"/v1/webhooks/{endpoint_id}/deliveries")
    assert answer.status_code == 200, answer.text
    found: list[dict[str, Any]] = answer.json()["deliveries"]
    return found


async def test_each_event_arrives_once_by_id_through_failures_and_a_worker_restart(
    service_root: Path, database: str
) -> None:
    stack = await start_stack(service_root, database, workers=0)
    try:
        stack.start_worker(0, env=RETRYING)
        tenant = await stack.create_tenant()
        with Receiver(["500", "hang", "200"], hang_seconds=3.0, by_id=True).running() as receiver:
            async with stack.client(tenant["api_key"]) as api:
                made = await endpoint(api, receiver.url, "balance.threshold_crossed", "dead_letter.created")
                hooks = made["endpoint_id"]
                assert (await api.put("/v1/burn-tables/default", json=TABLE)).status_code == 200
                put = await api.put("/v1/customers/c1", json={"alert_thresholds": ["10"]})
                assert put.status_code == 200, put.text
                grant = await api.post("/v1/customers/c1/grants", json={"id": "g1", "amount": "15"})
                assert grant.status_code == 201, grant.text
                # One priced event (15 -> 9 crosses 10) and one no burn rule prices (a dead letter).
                events = [
                    {"id": "e1", "customer": "c1", "type": "t", "quantity": 6},
                    {"id": "e2", "customer": "c1", "type": "unpriced", "quantity": 1},
                ]
                sent = await api.post("/v1/events", json={"events": events})
                assert sent.status_code == 200, sent.text

                async def both_timed_out() -> list[dict[str, Any]] | None:
                    found = await deliveries(api, hooks)
                    ready = len(found) == 2 and all(
                        d["attempts"] == 2 and "did not answer" in (d["last_error"] or "") for d in found
                    )
                    return found if ready else None

                # Mid-retry: each has failed (500), then timed out, and waits for its third attempt.
                await eventually(both_timed_out, timeout=60, what="both deliveries failed twice")
                assert not any(status == 200 for _, status in receiver.answered)
                stack.kill_worker(0)
                stack.start_worker(0, env=RETRYING)

                async def delivered() -> list[dict[str, Any]] | None:
                    found = await deliveries(api, hooks)
                    return found if all(d["status"] == "delivered" for d in found) else None

                log = await eventually(delivered, timeout=90, what="both delivered after the restart")
        assert sorted(d["event_type"] for d in log) == ["balance.threshold_crossed", "dead_letter.created"]
        assert all(d["attempts"] == 3 and d["last_status_code"] == 200 for d in log)
        ids = {d["delivery_id"] for d in log}
        # The receiver's view: every request carries one of the two ids, three attempts each, one 2xx each.
        assert Counter(h["webhook-id"] for h, _ in receiver.received) == {i: 3 for i in ids}
        assert Counter(i for i, status in receiver.answered if status == 200) == {i: 1 for i in ids}
        events_by_id: dict[str, Any] = {}
        for headers, body in receiver.received:
            event = Webhook(made["secret"]).verify(body, headers)
            assert events_by_id.setdefault(headers["webhook-id"], event) == event  # the same body each time
        by_type = {e["type"]: e for e in events_by_id.values()}
        crossed = by_type["balance.threshold_crossed"]["data"]
        assert (crossed["customer"], crossed["threshold"], crossed["balance"]) == ("c1", "10", "9")
        dead = by_type["dead_letter.created"]["data"]
        assert (dead["code"], dead["event_id"]) == ("unpriced", "e2")
    finally:
        await stack.stop()


DISABLING = {
    "REVOS_TOOLS_ALLOW_PRIVATE": "true",
    "REVOS_WEBHOOK_TIMEOUT_SECONDS": "1",
    "REVOS_WEBHOOK_RETRY_FIRST_SECONDS": "0.2",
    "REVOS_WEBHOOK_RETRY_CAP_SECONDS": "0.4",
    "REVOS_WEBHOOK_DISABLE_SECONDS": "1",
    "REVOS_WEBHOOK_DISABLE_FAILURES": "3",
}


async def test_expiry_redelivery_disabling_and_another_tenants_endpoint(
    service_root: Path, database: str
) -> None:
    stack = await start_stack(service_root, database, workers=0)
    try:
        stack.start_worker(0, env=DISABLING)
        tenant = await stack.create_tenant()
        other = await stack.create_tenant("other")
        with (
            Receiver(["200"], by_id=True).running() as good,
            Receiver(["500"], by_id=True).running() as failing,
        ):
            async with stack.client(tenant["api_key"]) as api, stack.client(other["api_key"]) as them:
                refused = await api.post(
                    "/v1/webhooks", json={"url": good.url, "event_types": ["grant.made"]}
                )
                assert refused.status_code == 400 and refused.json()["error"]["code"] == "unknown_event_type"
                bad = await api.post(
                    "/v1/webhooks", json={"url": "ftp://x", "event_types": ["grant.expired"]}
                )
                assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_webhook"

                expiring = await endpoint(api, good.url, "grant.expired")
                broken = await endpoint(api, failing.url, "dead_letter.created")
                listed = (await api.get("/v1/webhooks")).json()["webhooks"]
                assert [w["endpoint_id"] for w in listed] == [expiring["endpoint_id"], broken["endpoint_id"]]
                assert all("secret" not in w for w in listed)

                # Another tenant's endpoint is a 404 like a missing one, whatever is asked of it.
                theirs = f"/v1/webhooks/{expiring['endpoint_id']}"
                for answer in (
                    await them.get(theirs),
                    await them.patch(theirs, json={"enabled": False}),
                    await them.delete(theirs),
                    await them.get(f"{theirs}/deliveries"),
                ):
                    assert answer.status_code == 404 and answer.json()["error"]["code"] == "webhook_not_found"
                assert (await them.get("/v1/webhooks")).json()["webhooks"] == []

                # grant.expired: a grant that runs out two seconds from now.
                assert (await api.put("/v1/burn-tables/default", json=TABLE)).status_code == 200
                expires_at = (datetime.now(UTC) + timedelta(seconds=2)).isoformat()
                grant = {"id": "g1", "amount": "5", "expires_at": expires_at}
                assert (await api.post("/v1/customers/c1/grants", json=grant)).status_code == 201
                # dead_letter.created, to the endpoint that always fails.
                sent = await api.post(
                    "/v1/events", json={"events": [{"id": "e1", "customer": "c1", "type": "u"}]}
                )
                assert sent.status_code == 200, sent.text

                async def expired() -> list[dict[str, Any]] | None:
                    found = await deliveries(api, expiring["endpoint_id"])
                    return found if found and found[0]["status"] == "delivered" else None

                (delivery,) = await eventually(expired, timeout=30, what="grant.expired delivered")
                headers, body = good.received[0]
                event = Webhook(expiring["secret"]).verify(body, headers)
                assert event["type"] == "grant.expired" and headers["webhook-id"] == delivery["delivery_id"]
                assert (event["data"]["grant_id"], event["data"]["expired"]) == ("g1", "5")

                # Redelivered on request: the same id and body again.
                path = (
                    f"/v1/webhooks/{expiring['endpoint_id']}/deliveries/{delivery['delivery_id']}/redeliver"
                )
                assert (await them.post(path)).status_code == 404
                again = await api.post(path)
                assert again.status_code == 200 and again.json()["status"] == "applied", again.text

                async def twice() -> list[tuple[dict[str, str], bytes]] | None:
                    return good.received if len(good.received) >= 2 else None

                await eventually(twice, timeout=30, what="the redelivery")
                assert good.received[1][0]["webhook-id"] == delivery["delivery_id"]
                assert Webhook(expiring["secret"]).verify(good.received[1][1], good.received[1][0]) == event

                # A new secret signs every attempt from then on.
                rotated = await api.post(f"/v1/webhooks/{expiring['endpoint_id']}/rotate-secret")
                assert rotated.status_code == 200, rotated.text
                secret = rotated.json()["secret"]
                assert secret.startswith("whsec_") and secret != expiring["secret"]
                assert (await api.post(path)).status_code == 200

                async def thrice() -> list[tuple[dict[str, str], bytes]] | None:
                    return good.received if len(good.received) >= 3 else None

                await eventually(thrice, timeout=30, what="the redelivery with the new secret")
                assert Webhook(secret).verify(good.received[2][1], good.received[2][0]) == event

                # Every attempt to the other endpoint fails: it is disabled, by revos, with an audit entry.
                async def disabled() -> dict[str, Any] | None:
                    found: dict[str, Any] = (await api.get(f"/v1/webhooks/{broken['endpoint_id']}")).json()
                    return found if not found["enabled"] else None

                shown = await eventually(disabled, timeout=30, what="the failing endpoint disabled")
                assert "HTTP 500" in shown["disabled_reason"]
                audit = (await api.get("/v1/audit", params={"action": "webhook.disable"})).json()["entries"]
                assert [(e["actor"], e["target"]) for e in audit] == [
                    ("revos", f"webhook:{broken['endpoint_id']}")
                ]

                async def given_up() -> list[dict[str, Any]] | None:
                    found = await deliveries(api, broken["endpoint_id"])
                    return found if found and found[0]["status"] == "failed" else None

                (lost,) = await eventually(given_up, timeout=30, what="its delivery given up")
                tried = len(failing.received)
                assert tried >= 3 and all(h["webhook-id"] == lost["delivery_id"] for h, _ in failing.received)

                # The tenant fixes its receiver, enables the endpoint again and redelivers what it missed.
                failing.script[:] = ["200"]
                enabled = await api.patch(f"/v1/webhooks/{broken['endpoint_id']}", json={"enabled": True})
                assert enabled.status_code == 200 and enabled.json()["enabled"] is True, enabled.text
                assert enabled.json()["disabled_reason"] is None
                path = f"/v1/webhooks/{broken['endpoint_id']}/deliveries/{lost['delivery_id']}/redeliver"
                assert (await api.post(path)).status_code == 200

                async def recovered() -> list[dict[str, Any]] | None:
                    found = await deliveries(api, broken["endpoint_id"])
                    return found if found[0]["status"] == "delivered" else None

                await eventually(recovered, timeout=30, what="the missed delivery redelivered")
                assert failing.received[-1][0]["webhook-id"] == lost["delivery_id"]
                assert failing.answered[-1] == (lost["delivery_id"], 200)

                deleted = await api.delete(f"/v1/webhooks/{broken['endpoint_id']}")
                assert deleted.status_code == 200 and deleted.json()["deleted"] is True
                gone = await api.get(f"/v1/webhooks/{broken['endpoint_id']}")
                assert gone.status_code == 404 and gone.json()["error"]["code"] == "webhook_not_found"
    finally:
        await stack.stop()
