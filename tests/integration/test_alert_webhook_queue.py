"""The alert webhooks' queue on a real PostgreSQL: a fact is queued once per subscribed, enabled endpoint of
its own tenant, however often its record is applied; the sender signs with the endpoint's secret, sends to
its URL as it is now, and gives up on deliveries of an endpoint that was disabled or deleted."""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg
import pytest
from standardwebhooks import Webhook
from webhook_receiver import Receiver

from agents.webhooks import WebhookSender
from infra.http_guard import guarded_client
from pipeline.assistants.tool_secrets import SecretBox
from pipeline.records import WebhookEndpointChanged
from pipeline.voice.config import new_secret
from pipeline.voice.status_webhooks import Backoff
from pipeline.webhooks.deliveries import webhook_id
from pipeline.webhooks.endpoints import secret_context
from projections.voice import webhook_deliveries
from projections.webhooks import endpoints, fanout

BOX = SecretBox(b"w" * 32)
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


async def register(
    pool: asyncpg.Pool, tenant: str, endpoint_id: str, url: str, types: list[str], *, action: str = "created",
    enabled: bool = True, secret: str | None = None,
) -> str:  # fmt: skip
    secret = secret or new_secret()
    record = WebhookEndpointChanged(
        event_id=f"evt_{endpoint_id}_{action}", tenant_id=tenant, endpoint_id=endpoint_id, action=action, url=url,
        event_types=types, enabled=enabled, secret=BOX.seal(secret, secret_context(tenant, endpoint_id)),
        actor="key:k1", occurred_at=datetime.now(UTC),
    )  # fmt: skip
    async with pool.acquire() as conn:
        await endpoints.apply(conn, record)
    return secret


def fact(tenant: str = "t1", fact_id: str = "dl_1") -> fanout.Fact:
    return fanout.Fact(tenant, "dead_letter.created", fact_id, T0, {"dead_letter_id": fact_id})


async def queued(pool: asyncpg.Pool) -> list[tuple[str, str, str]]:
    rows = await pool.fetch("SELECT tenant_id, endpoint_id, webhook_id FROM webhook_deliveries ORDER BY 1, 2")
    return [(r["tenant_id"], r["endpoint_id"], r["webhook_id"]) for r in rows]


async def test_a_fact_is_queued_once_per_subscribed_enabled_endpoint_of_its_tenant(
    pool: asyncpg.Pool,
) -> None:
    await register(pool, "t1", "we_a", "https://a.example/h", ["dead_letter.created", "grant.expired"])
    await register(pool, "t1", "we_b", "https://b.example/h", ["grant.expired"])  # not subscribed
    await register(pool, "t1", "we_c", "https://c.example/h", ["dead_letter.created"], enabled=False)
    await register(pool, "t2", "we_d", "https://d.example/h", ["dead_letter.created"])  # another tenant
    for _ in range(2):  # a record applied again derives the same ids: nothing new
        async with pool.acquire() as conn, conn.transaction():
            await fanout.enqueue(conn, [fact()])
    assert await queued(pool) == [("t1", "we_a", webhook_id("t1", "we_a", "dead_letter.created", "dl_1"))]
    row = await webhook_deliveries.one(pool, "t1", webhook_id("t1", "we_a", "dead_letter.created", "dl_1"))
    assert row is not None and row["payload"] == {
        "type": "dead_letter.created",
        "timestamp": "2026-03-01T12:00:00.000Z",
        "data": {"dead_letter_id": "dl_1"},
    }


async def test_a_fact_is_not_queued_when_its_transaction_rolls_back(pool: asyncpg.Pool) -> None:
    await register(pool, "t1", "we_a", "https://a.example/h", ["dead_letter.created"])
    with pytest.raises(RuntimeError):
        async with pool.acquire() as conn, conn.transaction():
            await fanout.enqueue(conn, [fact()])
            raise RuntimeError("the writer failed after queueing")
    assert await queued(pool) == []


def sender(pool: asyncpg.Pool) -> WebhookSender:
    client = guarded_client(allow_private=True, what="the webhook")
    return WebhookSender(pool, BOX, client, backoff=Backoff(first=0.1, cap=0.2), timeout=0.5, poll=0.05)


async def test_the_sender_signs_with_the_endpoints_secret_and_sends_to_its_url_now(
    pool: asyncpg.Pool,
) -> None:
    with Receiver(["200"]).running() as receiver:
        secret = await register(pool, "t1", "we_a", "https://old.example/h", ["dead_letter.created"])
        async with pool.acquire() as conn:
            await fanout.enqueue(conn, [fact()])
        # Moved since the event was queued (same secret): the delivery goes where the endpoint is now.
        moved = await register(
            pool, "t1", "we_a", receiver.url, ["dead_letter.created"], action="updated", secret=secret
        )
        assert moved == secret
        s = sender(pool)
        assert await s.once() == 1
        await s.client.aclose()
    ((headers, body),) = receiver.received
    assert Webhook(secret).verify(body, headers)["data"] == {"dead_letter_id": "dl_1"}
    row = await webhook_deliveries.one(pool, "t1", headers["webhook-id"])
    assert row is not None and row["delivered_at"] is not None and row["endpoint_id"] == "we_a"


@pytest.mark.parametrize(("action", "error"), [("disabled", "is disabled"), ("deleted", "was deleted")])
async def test_a_delivery_of_a_disabled_or_deleted_endpoint_is_given_up(
    pool: asyncpg.Pool, action: str, error: str
) -> None:
    with Receiver(["200"]).running() as receiver:
        await register(pool, "t1", "we_a", receiver.url, ["dead_letter.created"])
        async with pool.acquire() as conn:
            await fanout.enqueue(conn, [fact()])
        await register(
            pool, "t1", "we_a", receiver.url, ["dead_letter.created"], action=action, enabled=False
        )
        s = sender(pool)
        assert await s.once() == 1
        await s.client.aclose()
        assert receiver.received == []
    row = await webhook_deliveries.one(pool, "t1", webhook_id("t1", "we_a", "dead_letter.created", "dl_1"))
    assert row is not None and row["failed_at"] is not None and error in row["last_error"]
