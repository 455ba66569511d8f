"""Burn tables, grants, balances and charges. Writes answer after the projection applied them."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from gateway import paging
from gateway.body import read_json
from gateway.errors import ApiError, not_found
from gateway.responses import json_response
from gateway.services import caller
from pipeline.admin import audit
from pipeline.admin.audit_topic import audit_outgoing
from pipeline.billing.validation import burn_tables as burn_table_validation
from pipeline.billing.validation import grants as grant_validation
from pipeline.publishing import Outgoing
from pipeline.topics import BILLING, customer_key
from projections import named_leases, queries
from projections.burn_rules import rules_to_json
from projections.waiting import wait_for

PAGE_DEFAULT = 50
PAGE_MAX = 500
LEASE_MARGIN = 5.0  # seconds a burn table's lease outlives the wait for its projection


def _actor(key_id: str) -> str:
    return f"key:{key_id}"


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
            previous = await queries.burn_table_versions(svc.pool, who.tenant_id, name, limit=1)
            version = (previous[0]["version"] if previous else 0) + 1
            table = burn_table_validation.burn_table(
                body, tenant_id=who.tenant_id, name=name, version=version, actor=_actor(who.key_id), now=now
            )
            encoded = svc.codec.encode(table)
            key = f"{who.tenant_id}:burn-table:{name}".encode()
            trail = audit.record(
                tenant_id=who.tenant_id,
                actor=_actor(who.key_id),
                action="burn_table.publish",
                target=f"burn_table:{name}",
                before=_table_json(previous[0]) if previous else None,
                after={"name": name, "version": version, "effective_at": table.effective_at,
                       "rules": rules_to_json(table.rules)},
                request_id=request.state.request_id,
                now=now,
            )  # fmt: skip
            # Every partition gets the version, in order with the usage it must price.
            partitions = await svc.publisher.partitions(BILLING)
            await svc.publisher.publish(
                [Outgoing(BILLING, encoded, key=key, partition=p) for p in partitions]
                + [audit_outgoing(svc.codec, trail)]
            )
            applied = await wait_for(
                svc.pool, queries.VERSION_EXISTS, who.tenant_id, name, version, timeout=svc.write_timeout
            )
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
    rows = await queries.burn_table_versions(svc.pool, who.tenant_id, name, limit=1)
    if not rows:
        raise not_found("burn_table")
    return json_response(rows[0])


def _table_json(row: dict[str, Any]) -> dict[str, Any]:
    return {k: row[k] for k in ("name", "version", "effective_at", "rules")}


def _grant_json(customer: str, row: dict[str, Any]) -> dict[str, Any]:
    return {"customer": customer, **row}


async def post_grant(request: Request) -> Response:
    svc, who = await caller(request)
    customer = request.path_params["customer"]
    body = await read_json(request)
    granted = grant_validation.grant(
        body, tenant_id=who.tenant_id, customer=customer, actor=_actor(who.key_id), now=datetime.now(UTC)
    )
    existing = await queries.grant(svc.pool, who.tenant_id, customer, granted.grant_id)
    if existing is not None:
        return json_response(_grant_json(customer, existing), status=200)  # idempotent repeat
    trail = audit.record(
        tenant_id=who.tenant_id,
        actor=_actor(who.key_id),
        action="grant.create",
        target=f"customer:{customer}/grant:{granted.grant_id}",
        before=None,
        after={
            "grant_id": granted.grant_id, "amount": granted.amount, "priority": granted.priority,
            "effective_at": granted.effective_at, "expires_at": granted.expires_at, "reason": granted.reason,
        },
        request_id=request.state.request_id,
        now=granted.occurred_at,
    )  # fmt: skip
    await svc.publisher.publish(
        [
            Outgoing(BILLING, svc.codec.encode(granted), key=customer_key(who.tenant_id, customer)),
            audit_outgoing(svc.codec, trail),
        ]
    )
    applied = await wait_for(
        svc.pool, queries.GRANT_EXISTS, who.tenant_id, customer, granted.grant_id, timeout=svc.write_timeout
    )
    row = await queries.grant(svc.pool, who.tenant_id, customer, granted.grant_id) if applied else None
    if row is None:
        return json_response(
            {
                "customer": customer,
                "grant_id": granted.grant_id,
                "amount": granted.amount,
                "status": "pending",
            },
            status=202,
        )
    return json_response(_grant_json(customer, row), status=201)


async def get_balance(request: Request) -> Response:
    svc, who = await caller(request)
    customer = request.path_params["customer"]
    now = datetime.now(UTC)
    account = await queries.balance(svc.pool, who.tenant_id, customer, now)
    grants = await queries.grants(svc.pool, who.tenant_id, customer)
    if not account["known"] and not grants:
        raise not_found("customer")
    return json_response(
        {
            "customer": customer,
            "balance": account["balance"],
            "debt": account["debt"],
            "grants": grants,
            "as_of": now,
            "updated_at": account["updated_at"],
        }
    )


def _cursor(row: dict[str, Any]) -> str:
    raw = orjson.dumps([row["event_time"].isoformat(), row["event_id"]])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _parse_cursor(raw: str) -> tuple[datetime, str]:
    try:
        at, event_id = orjson.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
        return datetime.fromisoformat(at), paging.text_in_cursor(event_id)
    except (ValueError, TypeError) as exc:
        raise paging.invalid_cursor() from exc


def _limit(request: Request) -> int:
    return paging.limit(request, default=PAGE_DEFAULT, most=PAGE_MAX)


async def get_charges(request: Request) -> Response:
    svc, who = await caller(request)
    customer = request.path_params["customer"]
    limit = _limit(request)
    cursor = request.query_params.get("cursor")
    before = _parse_cursor(cursor) if cursor else None
    if before is None and await queries.customer(svc.pool, who.tenant_id, customer) is None:
        raise not_found("customer")
    rows = await queries.charges(svc.pool, who.tenant_id, customer, before=before, limit=limit + 1)
    page = rows[:limit]
    return json_response(
        {
            "customer": customer,
            "charges": page,
            "next_cursor": _cursor(page[-1]) if len(rows) > limit else None,
        }
    )
