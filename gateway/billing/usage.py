"""Usage in: POST /v1/events (validate each event, produce the accepted, dead-letter the rejected, answer
per event). The accepted events of a request go out as one `UsageBatch` record per billing partition."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any

import orjson
from prometheus_client import Counter
from starlette.requests import Request
from starlette.responses import Response

from gateway.http.body import read_json
from gateway.http.errors import ApiError
from gateway.http.responses import json_response
from gateway.services import Services, caller
from infra.kafka import CachedPartitioner
from pipeline import validation
from pipeline.errors import ValidationError
from pipeline.publishing import BrokerUnavailable, Outgoing
from pipeline.records import DeadLetter, Header, UsageBatch, UsageRecorded
from pipeline.topics import BILLING, BILLING_DLQ, customer_key
from pipeline.version import APP_VERSION

MAX_EVENTS = 1000
STAGE = "gateway.ingest"
# Seconds a request waits for the billing topic's partition count (the producer's metadata, at once when it
# has it); past that, one record per event, which needs none.
PARTITIONS_WAIT = 1.0
REQUEST_ID = "revos-request-id"

EVENTS = Counter("revos_events_total", "Usage events received by the gateway", ["status"])
# Placing a customer's events the way the producer places a keyed record.
_PARTITIONER = CachedPartitioner()


def rejection(
    raw: object, tenant_id: str, error: ValidationError, now: datetime, request_id: str
) -> DeadLetter:
    """A rejected event is dead-lettered with its reason, so nothing a client sent is lost."""
    event_id = raw.get("id") if isinstance(raw, dict) and isinstance(raw.get("id"), str) else None
    return DeadLetter(
        dead_letter_id="dl_" + uuid.uuid4().hex[:24],
        stage=STAGE,
        code=error.code,
        error_class=type(error).__name__,
        message=error.message,
        value=orjson.dumps(raw),
        first_failed_at=now,
        last_failed_at=now,
        app_version=APP_VERSION,
        tenant_id=tenant_id,
        event_id=event_id,
        key=tenant_id.encode(),
        headers=(Header(REQUEST_ID, request_id.encode()),),
    )


async def post_events(request: Request) -> Response:
    svc, who = await caller(request)
    body = await read_json(request)
    events = body.get("events") if isinstance(body, dict) else None
    if not isinstance(events, list):
        raise ApiError(400, "missing_events", 'the body must be a JSON object with an "events" array')
    if len(events) > MAX_EVENTS:
        raise ApiError(413, "too_many_events", f"at most {MAX_EVENTS} events per request, got {len(events)}")

    now = datetime.now(UTC)
    request_id = request.state.request_id
    results: list[dict[str, Any]] = []
    outgoing: list[Outgoing] = []
    usages: list[UsageRecorded] = []
    for raw in events:
        try:
            usage = validation.usage(raw, tenant_id=who.tenant_id, now=now)
        except ValidationError as exc:
            dead = rejection(raw, who.tenant_id, exc, now, request_id)
            outgoing.append(Outgoing(BILLING_DLQ, svc.codec.encode(dead), key=dead.dead_letter_id.encode()))
            results.append(
                {"id": dead.event_id, "status": "rejected", "code": exc.code, "message": exc.message}
            )
            continue
        usages.append(usage)
        results.append({"id": usage.event_id, "status": "accepted"})
    accepted = len(usages)
    outgoing.extend(await usage_records(svc, usages, batch_id=request_id))
    # Answer only after the broker acknowledged everything; on failure the client resends the whole batch.
    await svc.publisher.publish(outgoing)
    EVENTS.labels("accepted").inc(accepted)
    EVENTS.labels("rejected").inc(len(events) - accepted)
    return json_response({"accepted": accepted, "rejected": len(events) - accepted, "results": results})


async def usage_records(svc: Services, usages: list[UsageRecorded], *, batch_id: str) -> list[Outgoing]:
    """One record per billing partition for the events accepted together (each event alone where it is
    alone on its partition). All were validated for one tenant at one time. Without the broker's
    partition count (the broker is down and the acknowledgement rests on PostgreSQL), one record per
    event, which the producer places itself."""
    partitions = None
    if len(usages) > 1:
        try:
            async with asyncio.timeout(PARTITIONS_WAIT):
                partitions = await svc.publisher.partitions(BILLING)
        except (BrokerUnavailable, TimeoutError):
            partitions = None
    if not partitions:
        return [_alone(svc, u) for u in usages]
    groups: dict[int, list[UsageRecorded]] = {}
    for u in usages:
        groups.setdefault(
            _PARTITIONER(customer_key(u.tenant_id, u.customer), partitions, partitions), []
        ).append(u)
    out: list[Outgoing] = []
    for partition, group in groups.items():
        if len(group) == 1:
            out.append(_alone(svc, group[0]))
            continue
        first = group[0]
        batch = UsageBatch(f"{batch_id}:{partition}", first.tenant_id, tuple(group), first.received_at)
        # Placed by its first event's key, which hashes to `partition`: no explicit partition, so a record
        # the outbox publishes again to a broker whose topic was remade still goes where keys go.
        key = customer_key(first.tenant_id, first.customer)
        out.append(Outgoing(BILLING, svc.codec.encode(batch), key=key))
    return out


def _alone(svc: Services, usage: UsageRecorded) -> Outgoing:
    return Outgoing(BILLING, svc.codec.encode(usage), key=customer_key(usage.tenant_id, usage.customer))
