"""Usage in and its prices: POST /v1/events (validate each event, produce the accepted, dead-letter the
rejected, answer per event) and the burn tables that price it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import orjson
from prometheus_client import Counter
from starlette.requests import Request
from starlette.responses import Response

from gateway.http.body import read_json
from gateway.http.errors import ApiError, not_found
from gateway.http.responses import json_response
from gateway.services import caller
from gateway.writes import audit_entry
from pipeline import validation
from pipeline.billing.validation import burn_tables as burn_table_validation
from pipeline.errors import ValidationError
from pipeline.publishing import Outgoing
from pipeline.records import DeadLetter, Header
from pipeline.topics import BILLING, BILLING_DLQ, customer_key
from pipeline.version import APP_VERSION
from projections import named_leases
from projections.billing import reads
from projections.billing.burn_rules import rules_to_json

MAX_EVENTS = 1000
STAGE = "gateway.ingest"
REQUEST_ID = "revos-request-id"
LEASE_MARGIN = 5.0  # seconds a burn table's lease outlives the wait for its projection

EVENTS = Counter("revos_events_total", "Usage events received by the gateway", ["status"])


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
    accepted = 0
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
        outgoing.append(
            Outgoing(BILLING, svc.codec.encode(usage), key=customer_key(usage.tenant_id, usage.customer))
        )
        results.append({"id": usage.event_id, "status": "accepted"})
        accepted += 1
    # Answer only after the broker acknowledged everything; on failure the client resends the whole batch.
    await svc.publisher.publish(outgoing)
    EVENTS.labels("accepted").inc(accepted)
    EVENTS.labels("rejected").inc(len(events) - accepted)
    return json_response({"accepted": accepted, "rejected": len(events) - accepted, "results": results})


async def put_burn_table(request: Request) -> Response:
    svc, who = await caller(request)
    name = request.path_params["name"]
    body = await read_json(request)
    now = datetime.now(UTC)
    # Fail fast, before taking the lock: the version number does not change what is valid.
    burn_table_validation.burn_table(body, tenant_id=who.tenant_id, name=name, version=1, actor="", now=now)
    try:
        # Versions are numbered under a lease held until the projection shows the new one, so that
        # concurrent publishes (from any gateway replica) get consecutive numbers. A lease, not an
        # advisory lock: waiting for or holding it must not keep a pooled connection from other requests.
        async with named_leases.held(
            svc.pool,
            f"burn-table|{who.tenant_id}|{name}",
            seconds=svc.write_timeout + LEASE_MARGIN,
            wait=svc.write_timeout,
        ):
            previous = await reads.burn_table_versions(svc.pool, who.tenant_id, name, limit=1)
            version = (previous[0]["version"] if previous else 0) + 1
            table = burn_table_validation.burn_table(
                body, tenant_id=who.tenant_id, name=name, version=version, actor=who.actor, now=now
            )
            encoded = svc.codec.encode(table)
            key = f"{who.tenant_id}:burn-table:{name}".encode()
            trail = audit_entry(
                request,
                who,
                action="burn_table.publish",
                target=f"burn_table:{name}",
                before=_table_json(previous[0]) if previous else None,
                after={"name": name, "version": version, "effective_at": table.effective_at,
                       "rules": rules_to_json(table.rules)},
                now=now,
            )  # fmt: skip
            # Every partition gets the version, in order with the usage it must price.
            partitions = await svc.publisher.partitions(BILLING)
            await svc.writer.publish(
                [Outgoing(BILLING, encoded, key=key, partition=p) for p in partitions], [trail]
            )
            applied = await svc.writer.wait(reads.VERSION_EXISTS, who.tenant_id, name, version)
    except named_leases.LeaseBusy as exc:
        raise ApiError(
            503,
            "burn_table_busy",
            "another version of this burn table is being published; retry shortly",
            {"Retry-After": "1"},
        ) from exc
    return json_response(
        {
            "name": name,
            "version": version,
            "effective_at": table.effective_at,
            "status": "applied" if applied else "pending",
        },
        status=200 if applied else 202,
    )


async def get_burn_table(request: Request) -> Response:
    svc, who = await caller(request)
    name = request.path_params["name"]
    rows = await reads.burn_table_versions(svc.pool, who.tenant_id, name, limit=1)
    if not rows:
        raise not_found("burn_table")
    return json_response(rows[0])


def _table_json(row: dict[str, Any]) -> dict[str, Any]:
    return {k: row[k] for k in ("name", "version", "effective_at", "rules")}


def _table_json(row: dict[str, Any]) -> dict[str, Any]:
    return {k: row[k] for k in ("name", "version", "effective_at", "rules")}
