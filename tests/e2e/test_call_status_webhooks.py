"""The whole stack: a call's facts on revos.voice become its row in /v1/calls, and the worker delivers the
agent's status webhooks signed with the secret the API showed once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from call_facts import answered_call
from e2e_stack import start_stack
from standardwebhooks import Webhook
from waiting import eventually
from webhook_receiver import Receiver

from infra.kafka import KafkaPublisher
from pipeline.codec import default_codec
from pipeline.publishing import Outgoing
from pipeline.topics import VOICE, call_key


async def test_a_calls_facts_reach_the_calls_api_and_its_status_webhooks(
    service_root: Path, database: str
) -> None:
    stack = await start_stack(service_root, database, workers=0)
    try:
        stack.start_worker(0, env={"REVOS_TOOLS_ALLOW_PRIVATE": "true"})  # the receiver is on loopback
        tenant = await stack.create_tenant()
        with Receiver(["200"]).running() as receiver:
            async with stack.client(tenant["api_key"]) as api:
                line = {"phone_number": "+14155550123", "status_webhook_url": receiver.url}
                made = await api.post(
                    "/v1/agents", json={"name": "Front desk", "customer": "c1", "voice": line}
                )
                assert made.status_code == 201, made.text
                agent = made.json()
                secret = agent["voice"]["status_webhook_secret"]

                codec = default_codec()
                facts = answered_call("CAe2e1", tenant=tenant["tenant_id"], agent=agent["agent_id"])
                publisher = KafkaPublisher(stack.settings.bootstrap_servers)
                await publisher.start()
                try:
                    await publisher.publish(
                        [
                            Outgoing(VOICE, codec.encode(f), key=call_key(f.tenant_id, f.call_sid))
                            for f in facts
                        ]
                    )
                finally:
                    await publisher.stop()

                async def both() -> list[Any] | None:
                    return receiver.received if len(receiver.received) >= 2 else None

                await eventually(both, timeout=60, what="call.started and call.ended delivered")
                events = [Webhook(secret).verify(body, headers) for headers, body in receiver.received]
                assert sorted(e["type"] for e in events) == ["call.ended", "call.started"]
                assert all(e["data"]["transcript_url"] == "/v1/calls/CAe2e1" for e in events)

                call = (await api.get("/v1/calls/CAe2e1")).json()
                assert (call["state"], call["end_reason"], call["duration_seconds"]) == (
                    "completed",
                    "agent_ended",
                    91,
                )
    finally:
        await stack.stop()
