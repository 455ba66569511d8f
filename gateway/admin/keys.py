"""GET/POST /v1/keys and POST /v1/keys/{key_id}/revoke|rotate: a tenant's API keys.

A new key is shown once, with its scope (`admin` or `ingest`). A revocation applies at once; a rotation
issues a new key of the same scope and lets the old one work for a grace period. The tenant's last admin
key is never revoked, unless the tenant has a dashboard user (who can always issue another): checked
here, and decided for good by the admin writer, which applies a tenant's revocations one after the other
(two racing revocations cannot both pass).

A dashboard user calls these routes as the tenant's admin without being a key: no key is `current`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import asyncpg
from starlette.requests import Request
from starlette.responses import Response

from gateway.http.body import read_json
from gateway.http.errors import ApiError, not_found
from gateway.http.responses import json_response
from gateway.services import Services, caller
from pipeline.admin import actions as admin
from pipeline.admin.keys import ADMIN as ADMIN_SCOPE
from pipeline.records import ApiKeyIssued, ApiKeyRevoked, AuditRecorded
from projections import admin as store
from projections import users
from projections.admin import Caller
from projections.waiting import wait_for_value


def key_status(revoked_at: datetime | None, now: datetime) -> str:
    return "active" if revoked_at is None else "expiring" if revoked_at > now else "revoked"


def _shown(row: asyncpg.Record, who: Caller, now: datetime) -> dict[str, Any]:
    return {
        "key_id": row["key_id"],
        "prefix": row["prefix"],
        "scope": row["scope"],
        "created_at": row["created_at"],
        "revoked_at": row["revoked_at"],
        "status": key_status(row["revoked_at"], now),
        "current": row["key_id"] == who.key_id,  # the key this request was made with
    }


def _last_key() -> ApiError:
    return ApiError(
        409, "last_key", "issue another admin key (POST /v1/keys) before revoking the tenant's last one"
    )


async def _publish(
    svc: Services, records: list[ApiKeyIssued | ApiKeyRevoked], trail: list[AuditRecorded]
) -> bool:
    """Publish the records with their audit entries; True once the projection shows every one.

    Raises 409 `last_key` when the admin writer refused a revocation (it would have taken the tenant's
    last admin key).
    """
    writer = svc.writer
    await writer.publish([writer.to_tenant(r) for r in records], trail)
    applied = True
    for r in records:
        if isinstance(r, ApiKeyIssued):
            applied = applied and await writer.wait(store.ISSUED, r.tenant_id, r.key_id)
            continue
        refused = await wait_for_value(
            svc.pool, store.REVOKED, r.tenant_id, r.key_id, r.revoke_at, r.event_id, timeout=svc.write_timeout
        )
        if refused:
            request_id = trail[0].request_id if trail else None
            await writer.publish([], [admin.refused_trail(r, request_id)])
            raise _last_key()
        applied = applied and refused is not None
    if any(isinstance(r, ApiKeyRevoked) for r in records):
        svc.authenticate.forget()
    return applied


async def _existing(svc: Services, who: Caller, request: Request) -> asyncpg.Record:
    row = await store.key(svc.pool, who.tenant_id, request.path_params["key_id"])
    if row is None:  # unknown, or another tenant's: the same answer
        raise not_found("key")
    return row


def _issued_body(issued: admin.IssuedKey, applied: bool) -> dict[str, Any]:
    r = issued.record
    return {"key_id": r.key_id, "prefix": r.prefix, "scope": r.scope, "api_key": issued.secret,
            "created_at": r.occurred_at, "status": "applied" if applied else "pending"}  # fmt: skip


async def list_keys(request: Request) -> Response:
    svc, who = await caller(request)
    now = datetime.now(UTC)
    return json_response({"keys": [_shown(r, who, now) for r in await store.keys(svc.pool, who.tenant_id)]})


async def post_key(request: Request) -> Response:
    svc, who = await caller(request)
    scope = admin.key_scope(await read_json(request, optional=True))
    issued = admin.issue_key(who.tenant_id, actor=who.actor, now=datetime.now(UTC), scope=scope)
    applied = await _publish(
        svc, [issued.record], [admin.issued_trail(issued.record, request.state.request_id)]
    )
    return json_response(_issued_body(issued, applied), status=201 if applied else 202)


async def revoke_key(request: Request) -> Response:
    svc, who = await caller(request)
    row = await _existing(svc, who, request)
    now = datetime.now(UTC)
    record = admin.revoke_key(
        who.tenant_id,
        row["key_id"],
        after=admin.grace(await read_json(request, optional=True), default=0),
        actor=who.actor,
        now=now,
    )
    if row["revoked_at"] is not None and row["revoked_at"] <= record.revoke_at:  # as revoked already
        return json_response(
            {"key_id": row["key_id"], "revoked_at": row["revoked_at"], "status": "unchanged"}
        )
    others = [r for r in await store.keys(svc.pool, who.tenant_id) if r["key_id"] != row["key_id"]]
    live_admin = row["revoked_at"] is None and row["scope"] == ADMIN_SCOPE
    if (
        live_admin
        and not any(r["revoked_at"] is None and r["scope"] == ADMIN_SCOPE for r in others)
        and not await users.has_users(svc.pool, who.tenant_id)
    ):
        raise _last_key()  # the common case, answered at once; the admin writer decides races
    applied = await _publish(
        svc, [record], [admin.revoked_trail(record, row["revoked_at"], request.state.request_id)]
    )
    return json_response(
        {
            "key_id": record.key_id,
            "revoked_at": record.revoke_at,
            "status": "applied" if applied else "pending",
        },
        status=200 if applied else 202,
    )


async def rotate_key(request: Request) -> Response:
    svc, who = await caller(request)
    row = await _existing(svc, who, request)
    if row["revoked_at"] is not None:
        raise ApiError(409, "key_revoked", f"key {row['key_id']} is revoked already; issue a new one instead")
    now = datetime.now(UTC)
    after = admin.grace(await read_json(request, optional=True), default=admin.ROTATION_GRACE_SECONDS)
    actor = who.actor
    issued = admin.issue_key(who.tenant_id, actor=actor, now=now, scope=row["scope"])
    revoked = admin.revoke_key(who.tenant_id, row["key_id"], after=after, actor=actor, now=now)
    applied = await _publish(
        svc,
        [issued.record, revoked],
        [
            admin.issued_trail(issued.record, request.state.request_id),
            admin.revoked_trail(revoked, None, request.state.request_id),
        ],
    )
    body = _issued_body(issued, applied)
    body["replaces"] = {"key_id": revoked.key_id, "revoked_at": revoked.revoke_at}
    return json_response(body, status=201 if applied else 202)
