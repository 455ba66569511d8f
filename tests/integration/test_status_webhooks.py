"""Status webhooks delivered to a real local HTTP receiver: retried through an error and a timeout with the
same webhook-id, signed so the reference library verifies them, never sent again once delivered, sent by one
sender only, given up on after their time, and never to a private address unless allowed."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest
from call_facts import answered_call, voice_agent
from standardwebhooks import Webhook
from waiting import eventually
from webhook_receiver import Receiver

from agents.webhooks import WebhookSender
from infra.http_guard import guarded_client
from pipeline.assistants.tool_secrets import SecretBox
from pipeline.voice import status_webhooks
from pipeline.voice.status_webhooks import Backoff
from pipeline.voice.summary import ENDED, fold
from projections.chat import assistants
from projections.db import create_pool, migrate
from projections.voice import webhook_deliveries

BOX = SecretBox(b"w" * 32)
FAST = Backoff(first=0.1, factor=2.0, cap=0.4, give_up_after=120.0)


@pytest.fixture
async def pool(database: str) -> AsyncIterator[asyncpg.Pool]:
    p = await create_pool(database, max_size=6)
    await migrate(p)
    try:
        yield p
    finally:
        await p.close()


async def agent_with_webhook(pool: asyncpg.Pool, url: str) -> str:
    """Store an agent whose status webhook is `url`; its signing secret."""
    record, secret = voice_agent(BOX, webhook_url=url)
    async with pool.acquire() as conn:
        await assistants.apply(conn, record)
    assert secret is not None
    return secret


async def queue_one(pool: asyncpg.Pool, url: str, agent: str = "a1") -> tuple[str, dict[str, Any]]:
    """A `call.ended` delivery due now, as the voice writer queues it; its id and payload."""
    call = None
    for e in answered_call("CA1", agent=agent):
        call = fold(call, e)
    assert call is not None and call.ended_at is not None
    body = status_webhooks.payload(ENDED, call.ended_at, call)
    webhook_id = status_webhooks.webhook_id("t1", "CA1", ENDED)
    async with pool.acquire() as conn:
        await webhook_deliveries.enqueue(
            conn, tenant_id="t1", webhook_id=webhook_id, agent_id=agent, url=url, event_type=ENDED,
            payload=body, due=datetime.now(UTC),
        )  # fmt: skip
    return webhook_id, body


def sender(pool: asyncpg.Pool, *, allow_private: bool = True, **options: Any) -> WebhookSender:
    client = guarded_client(allow_private=allow_private, what="the status webhook")
    return WebhookSender(pool, BOX, client, **{"backoff": FAST, "timeout": 0.5, "poll": 0.05, **options})


@contextlib.asynccontextmanager
async def running(s: WebhookSender) -> AsyncIterator[WebhookSender]:
    task = asyncio.create_task(s.run())
    try:
        yield s
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await s.client.aclose()


async def test_a_webhook_survives_an_error_and_a_timeout_and_arrives_signed_once(pool: asyncpg.Pool) -> None:
    with Receiver(["500", "hang", "200"]).running() as receiver:
        secret = await agent_with_webhook(pool, receiver.url)
        webhook_id, body = await queue_one(pool, receiver.url)
        async with running(sender(pool)):

            async def delivered() -> dict[str, Any] | None:
                row = await webhook_deliveries.one(pool, "t1", webhook_id)
                return row if row is not None and row["delivered_at"] is not None else None

            row = await eventually(delivered, timeout=30, what="the webhook delivered")
        assert (row["attempts"], row["last_status"], row["last_error"]) == (3, 200, None)
        assert len(receiver.received) == 3
        for headers, raw in receiver.received:
            assert headers["webhook-id"] == webhook_id  # the same id on every retry
            assert Webhook(secret).verify(raw, headers) == body
            assert headers["content-type"] == "application/json"

        # Delivered: even due again, it is never sent again.
        await pool.execute("UPDATE webhook_deliveries SET next_attempt_at = now() - interval '1 hour'")
        again = sender(pool)
        assert [await again.once() for _ in range(3)] == [0, 0, 0]
        await again.client.aclose()
        assert len(receiver.received) == 3


async def test_a_second_sender_never_sends_the_same_attempt(pool: asyncpg.Pool) -> None:
    with Receiver(["hang"], hang_seconds=0.2).running() as receiver:
        await agent_with_webhook(pool, receiver.url)
        webhook_id, _ = await queue_one(pool, receiver.url)
        one, two = sender(pool), sender(pool)
        assert sorted(await asyncio.gather(one.once(), two.once(), one.once())) == [0, 0, 1]
        await one.client.aclose()
        await two.client.aclose()
        assert len(receiver.received) == 1
        row = await webhook_deliveries.one(pool, "t1", webhook_id)
        assert row is not None and row["delivered_at"] is not None and row["attempts"] == 1


async def test_a_webhook_that_keeps_failing_is_given_up_and_logged(
    pool: asyncpg.Pool, caplog: pytest.LogCaptureFixture
) -> None:
    with Receiver(["500"]).running() as receiver:
        await agent_with_webhook(pool, receiver.url)
        webhook_id, _ = await queue_one(pool, receiver.url)
        brief = Backoff(first=0.05, factor=2.0, cap=0.1, give_up_after=0.6)
        with caplog.at_level(logging.ERROR, logger="agents.webhooks"):
            async with running(sender(pool, backoff=brief)):

                async def failed() -> dict[str, Any] | None:
                    row = await webhook_deliveries.one(pool, "t1", webhook_id)
                    return row if row is not None and row["failed_at"] is not None else None

                row = await eventually(failed, timeout=30, what="the webhook given up")
        attempts = len(receiver.received)
        assert row["attempts"] == attempts >= 2 and row["delivered_at"] is None
        assert row["last_status"] == 500 and "HTTP 500" in row["last_error"]
        assert any(webhook_id in r.getMessage() and "given up" in r.getMessage() for r in caplog.records)
        assert await sender(pool).once() == 0 and len(receiver.received) == attempts  # never tried again


async def test_a_private_address_is_refused_unless_allowed(pool: asyncpg.Pool) -> None:
    with Receiver(["200"]).running() as receiver:
        await agent_with_webhook(pool, receiver.url)
        webhook_id, _ = await queue_one(pool, receiver.url)
        guarded = sender(pool, allow_private=False)
        assert await guarded.once() == 1
        await guarded.client.aclose()
        row = await webhook_deliveries.one(pool, "t1", webhook_id)
        assert row is not None and row["delivered_at"] is None and row["failed_at"] is None
        assert row["last_error"] == "the status webhook's address 127.0.0.1 is not public"
        assert row["next_attempt_at"] > datetime.now(UTC) and receiver.received == []


async def test_a_webhook_of_an_agent_that_is_gone_is_given_up_at_once(pool: asyncpg.Pool) -> None:
    with Receiver(["200"]).running() as receiver:
        webhook_id, _ = await queue_one(pool, receiver.url, agent="gone")
        s = sender(pool)
        assert await s.once() == 1
        await s.client.aclose()
        row = await webhook_deliveries.one(pool, "t1", webhook_id)
        assert row is not None and row["failed_at"] is not None and row["attempts"] == 1
        assert "no longer has a phone line" in row["last_error"] and receiver.received == []
