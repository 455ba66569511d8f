"""The voice stream processor: every call's facts into `call_events` and `calls`; each call's minutes out
to billing as a `voice.minutes` usage event of the agent's customer (if it has one); and the agent's status
webhooks queued in the same transaction (agents/webhooks.py delivers them).

A call's minutes are billed once the call has ended with a duration (usually the relay's own measure first),
as the event `voice.minutes:<call_sid>`; a better duration learned later (Twilio's CallDuration) amends that
charge, so what the customer pays follows the best source whatever order the facts arrive in."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg

from agents.runner import Message, decode_all, unexpected
from pipeline.codec import Codec
from pipeline.publishing import Outgoing
from pipeline.records import CallEventRecorded, DeadLetter
from pipeline.topics import BILLING, customer_key
from pipeline.voice import status_webhooks
from pipeline.voice.summary import Reaction, voice_minutes, voice_minutes_amended
from projections.chat import assistants
from projections.voice import calls as store
from projections.voice import webhook_deliveries
from projections.webhooks import fanout

CONSUMER = "voice"
STAGE = "voice.apply"


@dataclass(slots=True)
class VoiceProjection:
    codec: Codec
    base_url: str = ""  # REVOS_PUBLIC_URL: status webhooks link to the call with it
    consumer: str = CONSUMER
    stage: str = STAGE

    async def apply(
        self, conn: asyncpg.Connection, topic: str, partition: int, messages: Sequence[Message]
    ) -> list[DeadLetter | Outgoing]:
        decoded, dead = decode_all(self.codec, self.stage, messages)
        events: list[CallEventRecorded] = []
        for m, record in decoded:
            if isinstance(record, CallEventRecorded):
                events.append(record)
            else:
                dead.append(unexpected(self.stage, m, record))
        reactions = await store.record_events(conn, events)
        for r in reactions:
            await self._queue_webhooks(conn, r)
        # Published before the offset commits; derived again, a call's minutes keep their id, which
        # billing charges once.
        billing = [self._minutes(r) for r in reactions if r.billable]
        billing += [self._amended(r) for r in reactions if r.rebilled and not r.billable]
        return [*dead, *billing]

    def _minutes(self, r: Reaction) -> Outgoing:
        usage = voice_minutes(r.call)
        return Outgoing(BILLING, self.codec.encode(usage), key=customer_key(usage.tenant_id, usage.customer))

    def _amended(self, r: Reaction) -> Outgoing:
        amend = voice_minutes_amended(r.call, datetime.now(UTC))
        return Outgoing(BILLING, self.codec.encode(amend), key=customer_key(amend.tenant_id, amend.customer))

    async def _queue_webhooks(self, conn: asyncpg.Connection, r: Reaction) -> None:
        wanted = r.status_events
        if not wanted:
            return
        # The tenant's alert endpoints that subscribe to call events hear of every agent's calls.
        facts = [
            fanout.Fact(
                tenant_id=r.call.tenant_id,
                event_type=event_type,
                fact_id=r.call.call_sid,
                at=at,
                data=status_webhooks.payload(event_type, at, r.call, self.base_url)["data"],
            )
            for event_type, at in wanted
        ]
        await fanout.enqueue(conn, facts)
        agent = await assistants.load(conn, r.call.tenant_id, r.call.agent_id)
        line = agent.voice if agent is not None else None
        if line is None or line.status_webhook_url is None:
            return
        for event_type, at in wanted:
            await webhook_deliveries.enqueue(
                conn,
                tenant_id=r.call.tenant_id,
                webhook_id=status_webhooks.webhook_id(r.call.tenant_id, r.call.call_sid, event_type),
                agent_id=r.call.agent_id,
                url=line.status_webhook_url,
                event_type=event_type,
                payload=status_webhooks.payload(event_type, at, r.call, self.base_url),
                due=datetime.now(UTC),
            )
