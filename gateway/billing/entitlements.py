"""Entitlements (PUT and GET per customer) and the real-time check, POST /v1/check."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from starlette.requests import Request
from starlette.responses import Response

from gateway.http.body import read_json
from gateway.http.errors import not_found
from gateway.http.responses import json_response
from gateway.services import Services, caller, services
from gateway.writes import audit_entry
from infra.kafka import CachedPartitioner
from pipeline.billing.entitlements import (
    BOOLEAN,
    HOLD_TIMEOUT,
    INSUFFICIENT,
    LIMIT,
    METERED,
    CheckRequest,
    Entitlement,
    Standing,
    Verdict,
    decide,
)
from pipeline.billing.metering import period_start
from pipeline.billing.validation import entitlements as entitlement_validation
from pipeline.money import format_decimal
from pipeline.publishing import Outgoing
from pipeline.records import HoldReleased, HoldRequested
from pipeline.topics import BILLING, customer_key
from projections.billing import entitlements as store
from projections.billing import reads
from projections.waiting import wait_for, wait_for_value

HOLD_WAIT = 5.0  # seconds a check waits for the billing fold to decide its hold
# Placing a customer's key the way the producer does, so a check reads its partition's watermark.
_PARTITIONER = CachedPartitioner()
_MS = timedelta(milliseconds=1)


def _definition(e: Mapping[str, Any]) -> dict[str, Any]:
    """The fields a kind uses, decimals as text: the API's and the audit log's form of an entitlement."""
    out: dict[str, Any] = {"feature": e["feature"], "kind": e["kind"]}
    if e["kind"] == BOOLEAN:
        out["enabled"] = e["enabled"]
    elif e["kind"] == LIMIT:
        out["limit"] = format_decimal(e["limit"])
    else:
        out.update(
            event_type=e["event_type"],
            match=e["match"],
            allowance=format_decimal(e["allowance"]),
            period=e["period"],
        )
    return out


def periods(now: datetime) -> tuple[datetime, datetime]:
    return period_start(now, "day"), period_start(now, "month")


async def put_entitlement(request: Request) -> Response:
    svc, who = await caller(request)
    customer = request.path_params["customer"]
    feature = request.path_params["feature"]
    body = await read_json(request)
    actor = who.actor
    now = datetime.now(UTC)
    record = entitlement_validation.entitlement(
        body, tenant_id=who.tenant_id, customer=customer, feature=feature, actor=actor, now=now
    )
    previous = await svc.pool.fetchrow(store.CURRENT, who.tenant_id, customer, feature)
    after = _definition(asdict(record))
    trail = audit_entry(
        request,
        who,
        action="entitlement.set",
        target=f"customer:{customer}/entitlement:{feature}",
        before=None if previous is None else _definition(dict(previous)),
        after=after,
        now=now,
    )
    await svc.writer.publish([svc.writer.to_customer(record)], [trail])
    applied = await svc.writer.wait(store.APPLIED, who.tenant_id, customer, feature, record.event_id)
    return json_response(
        {"customer": customer, **after, "status": "applied" if applied else "pending"},
        status=200 if applied else 202,
    )


def listed(row: Mapping[str, Any]) -> dict[str, Any]:
    """An entitlement as listed: its definition, and for a metered one its use in the current period."""
    out = _definition(row)
    if row["kind"] == METERED:
        e = Entitlement(METERED, allowance=row["allowance"], used=row["used"])
        out.update(used=row["used"], remaining=e.remaining(), period_start=row["period_start"])
    out["updated_at"] = row["updated_at"]
    return out


async def get_entitlements(request: Request) -> Response:
    svc, who = await caller(request)
    customer = request.path_params["customer"]
    rows = await reads.entitlements(svc.pool, who.tenant_id, customer, periods=periods(datetime.now(UTC)))
    if not rows and await reads.customer(svc.pool, who.tenant_id, customer) is None:
        raise not_found("customer")
    return json_response({"customer": customer, "entitlements": [listed(r) for r in rows]})


async def evaluate(
    svc: Services, tenant_id: str, asked: CheckRequest, now: datetime
) -> tuple[Verdict, asyncpg.Record]:
    """The check's verdict and the projection row it read. POST /v1/check and chat turns (which check
    an agent's customer before calling a model) share it, so they never disagree."""
    partitions = await svc.publisher.partitions(BILLING)
    partition = _PARTITIONER(customer_key(tenant_id, asked.customer), partitions, partitions)
    row = await reads.check(
        svc.pool,
        tenant_id,
        asked.customer,
        asked.feature,
        at=now,
        periods=periods(now),
        watermark=(BILLING, partition),
    )
    entitlement = None
    if row["kind"] is not None:
        entitlement = Entitlement(
            row["kind"],
            enabled=row["enabled"],
            limit=row["limit"],
            allowance=row["allowance"],
            used=row["used"],
        )
    return decide(asked, Standing(row["balance"], row["credit_limit"], entitlement, row["on_hold"])), row


async def post_check(request: Request) -> Response:
    svc, who = await caller(request)
    asked = entitlement_validation.check(await read_json(request))
    now = datetime.now(UTC)
    verdict, row = await evaluate(svc, who.tenant_id, asked, now)
    answer: dict[str, Any] = {
        "allowed": verdict.allowed,
        "reason": verdict.reason,
        "balance": row["balance"],
        "on_hold": row["on_hold"],
    }
    if verdict.remaining is not None:
        answer["remaining"] = verdict.remaining
    if verdict.allowed and asked.hold is not None:
        answer.update(await _hold(request, who.tenant_id, who.actor, asked, now))
    as_of: datetime | None = row["as_of"]
    answer["as_of"] = as_of
    # A clock a little behind the scheduler's must not report negative staleness.
    answer["lag_ms"] = None if as_of is None else max(0, (now - as_of) // _MS)
    return json_response(answer)


async def _hold(
    request: Request, tenant_id: str, actor: str, asked: CheckRequest, now: datetime
) -> dict[str, Any]:
    """Ask the billing fold to reserve the checked credits. It decides in log order, after every
    earlier hold and charge of the customer, so concurrent checks cannot together reserve more than
    the balance and credit limit cover. The answer's `allowed` is the fold's decision."""
    svc = services(request)
    assert asked.hold is not None
    record = HoldRequested(
        hold_id="hld_" + uuid.uuid4().hex,
        tenant_id=tenant_id,
        customer=asked.customer,
        credits=asked.credits,
        expires_at=now + timedelta(seconds=asked.hold.ttl_seconds),
        event_id=asked.hold.event_id,
        actor=actor,
        occurred_at=now,
    )
    key = customer_key(tenant_id, asked.customer)
    await svc.publisher.publish([Outgoing(BILLING, svc.codec.encode(record), key=key)])
    status = await wait_for_value(
        svc.pool, store.HOLD_DECIDED, tenant_id, record.hold_id, timeout=HOLD_WAIT, every=0.005, most=0.02
    )
    if status is None:
        # Undecided in time: release it, so a late placement does not keep credits reserved.
        release = HoldReleased(record.hold_id, tenant_id, asked.customer, record.actor, datetime.now(UTC))
        await svc.publisher.publish([Outgoing(BILLING, svc.codec.encode(release), key=key)])
        return {"allowed": False, "reason": HOLD_TIMEOUT}
    if status != "placed":
        return {"allowed": False, "reason": INSUFFICIENT}
    return {"hold": {"hold_id": record.hold_id, "credits": record.credits, "expires_at": record.expires_at,
                     "event_id": record.event_id}}  # fmt: skip


async def delete_hold(request: Request) -> Response:
    """Release a hold before it is used or expires; releasing one that already ended changes nothing."""
    svc, who = await caller(request)
    hold_id = request.path_params["hold_id"]
    row = await svc.pool.fetchrow(store.HOLD, who.tenant_id, hold_id)
    if row is None:
        raise not_found("hold")
    if row["status"] == "placed":
        release = HoldReleased(hold_id, who.tenant_id, row["customer"], who.actor, datetime.now(UTC))
        await svc.publisher.publish(
            [Outgoing(BILLING, svc.codec.encode(release), key=customer_key(who.tenant_id, row["customer"]))]
        )
        await wait_for(svc.pool, store.HOLD_ENDED, who.tenant_id, hold_id, timeout=svc.write_timeout)
        row = await svc.pool.fetchrow(store.HOLD, who.tenant_id, hold_id)
        assert row is not None  # holds are never deleted
    return json_response(dict(row))
