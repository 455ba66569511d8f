"""Recording what happens to a call: `CallEventRecorded` records on `revos.voice`, keyed by the call."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any

from gateway.services import Services
from pipeline.errors import TransientError
from pipeline.publishing import Outgoing
from pipeline.records import CallEventRecorded
from pipeline.topics import VOICE, call_key
from pipeline.voice import calls

log = logging.getLogger(__name__)

ATTEMPTS = 3


def call_event(
    tenant_id: str, agent_id: str, call_sid: str, kind: str, *identity: object, **fields: Any
) -> CallEventRecorded:
    """A fact about a call; its id is the call, the kind and `identity` (what makes it this fact)."""
    return CallEventRecorded(
        event_id=calls.event_id(call_sid, kind, *identity),
        tenant_id=tenant_id,
        agent_id=agent_id,
        call_sid=call_sid,
        kind=kind,
        occurred_at=fields.pop("occurred_at", None) or datetime.now(UTC),
        **fields,
    )


async def record(svc: Services, *events: CallEventRecorded, attempts: int = 1) -> None:
    """Publish call events, acknowledged by the broker (or the outbox) before this returns;
    TransientError after `attempts` tries."""
    outgoing = [Outgoing(VOICE, svc.codec.encode(e), key=call_key(e.tenant_id, e.call_sid)) for e in events]
    for attempt in range(1, attempts + 1):
        try:
            await svc.publisher.publish(outgoing)
            return
        except TransientError as exc:
            if attempt == attempts:
                raise
            log.warning("call events not acknowledged (attempt %d): %s", attempt, exc.message)
            await asyncio.sleep(0.2 * 2**attempt)


async def record_or_log(svc: Services, *events: CallEventRecorded) -> bool:
    """For the relay, which has no one to answer with an error: retry, and log what could not be kept."""
    try:
        await record(svc, *events, attempts=ATTEMPTS)
        return True
    except TransientError as exc:
        for e in events:
            log.error("call %s: its %s event could not be recorded: %s", e.call_sid, e.kind, exc.message)
        return False
