"""Burn tables, the named and versioned prices of usage: publish a version, read the newest, list the
tenant's tables and one table's versions, and price an event without sending it (the same pure pricing
the billing fold charges with: pipeline/billing/pricing.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from gateway.http import paging
from gateway.http.body import read_json
from gateway.http.errors import ApiError, not_found
from gateway.http.responses import json_response
from gateway.services import caller
from gateway.writes import audit_entry
from pipeline.billing import pricing
from pipeline.billing.validation import burn_tables as burn_table_validation
from pipeline.errors import UnpricedError
from pipeline.publishing import Outgoing
from pipeline.topics import BILLING
from projections import named_leases
from projections.billing import reads
from projections.billing.burn_rules import rules_to_json

LEASE_MARGIN = 5.0  # seconds a burn table's lease outlives the wait for its projection
PAGE_DEFAULT = 50
PAGE_MAX = 500


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


async def list_burn_tables(request: Request) -> Response:
    svc, who = await caller(request)
    limit = paging.limit(request, default=PAGE_DEFAULT, most=PAGE_MAX)
    cursor = request.query_params.get("cursor")
    after = paging.text_in_cursor(paging.decode(cursor, 1)[0]) if cursor else None
    rows = await reads.burn_tables(svc.pool, who.tenant_id, after=after, limit=limit + 1)
    page, next_cursor = paging.page(rows, limit, lambda row: (row["name"],))
    return json_response({"burn_tables": page, "next_cursor": next_cursor})


async def list_versions(request: Request) -> Response:
    svc, who = await caller(request)
    name = request.path_params["name"]
    limit = paging.limit(request, default=PAGE_DEFAULT, most=PAGE_MAX)
    cursor = request.query_params.get("cursor")
    below = paging.number_cursor(cursor) if cursor else None
    rows = await reads.versions_page(svc.pool, who.tenant_id, name, below=below, limit=limit + 1)
    if not rows and below is None:
        raise not_found("burn_table")
    versions = rows[:limit]
    next_cursor = str(versions[-1]["version"]) if len(rows) > limit else None
    return json_response({"name": name, "versions": versions, "next_cursor": next_cursor})


async def preview(request: Request) -> Response:
    """What an event would cost: the version in force at its time, the rule that matches, the credits."""
    svc, who = await caller(request)
    name = request.path_params["name"]
    usage = burn_table_validation.preview(
        await read_json(request), tenant_id=who.tenant_id, now=datetime.now(UTC)
    )
    versions = await reads.priced_versions(svc.pool, who.tenant_id, name)
    if not versions:
        raise not_found("burn_table")
    try:
        price = pricing.price(versions, usage)
    except UnpricedError as exc:
        raise ApiError(422, exc.code, exc.message) from exc
    used = next(v for v in versions if v.version == price.version)
    return json_response(
        {
            "name": name,
            "version": price.version,
            "effective_at": used.effective_at,
            "credits": price.credits,
            "cost": price.cost,
            "rule": {"index": price.rule_index, **rules_to_json([used.rules[price.rule_index]])[0]},
            "timestamp": usage.timestamp,
        }
    )
