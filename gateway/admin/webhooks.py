"""A tenant's alert webhook endpoints (/v1/webhooks): created with a signing secret shown once (sealed
at rest), listed, shown, changed (URL, event types, enabled), deleted, their secret rotated; each one's
delivery log, and a delivery sent again. Every write is a record on the log with its audit entry
(gateway/writes.py); another tenant's endpoint is a 404 like a missing one."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from gateway.http import paging
from gateway.http.body import read_json
from gateway.http.errors import not_found
from gateway.http.responses import json_response
from gateway.services import Services, caller
from gateway.writes import audit_entry
from pipeline import validation
from pipeline.records import AuditRecorded, WebhookEndpointChanged, WebhookRedeliveryRequested
from pipeline.voice.config import new_secret
from pipeline.webhooks import endpoints as rules
from projections.admin import Caller
from projections.voice import webhook_deliveries
from projections.webhooks import endpoints as store
from projections.webhooks.endpoints import Endpoint

PAGE_DEFAULT = 50
PAGE_MAX = 500


def _shown(
    e: Endpoint | WebhookEndpointChanged, created_at: datetime, updated_at: datetime
) -> dict[str, Any]:
    return {
        "endpoint_id": e.endpoint_id,
        "url": e.url,
        "event_types": list(e.event_types),
        "description": e.description,
        "enabled": e.enabled,
        "disabled_reason": e.disabled_reason,
        "created_at": created_at,
        "updated_at": updated_at,
    }


def _stored(e: Endpoint) -> dict[str, Any]:
    return _shown(e, e.created_at, e.updated_at)


async def _found(svc: Services, who: Caller, request: Request) -> Endpoint:
    found = await store.find(svc.pool, who.tenant_id, request.path_params["endpoint_id"])
    if found is None:
        raise not_found("webhook")
    return found


async def _write(
    request: Request, svc: Services, who: Caller, record: WebhookEndpointChanged, before: Endpoint | None
) -> bool:
    after = None if record.action == store.DELETED else _shown(record, record.occurred_at, record.occurred_at)
    if after is not None and before is not None:
        after["created_at"] = before.created_at
    trail: AuditRecorded = audit_entry(
        request, who, action=f"webhook.{record.action}", target=f"webhook:{record.endpoint_id}",
        before=None if before is None else _stored(before), after=after, now=record.occurred_at,
    )  # fmt: skip
    await svc.writer.publish([svc.writer.to_tenant(record)], [trail])
    return await svc.writer.wait(store.APPLIED, record.tenant_id, record.endpoint_id, record.event_id)


def _answer(body: dict[str, Any], applied: bool, *, created: bool = False) -> Response:
    status = (201 if created else 200) if applied else 202
    return json_response({**body, "status": "applied" if applied else "pending"}, status=status)


async def post_webhook(request: Request) -> Response:
    svc, who = await caller(request)
    given = rules.creation(await read_json(request))
    endpoint_id = "we_" + uuid.uuid4().hex
    secret = new_secret()
    now = datetime.now(UTC)
    assert given.url is not None and given.event_types is not None
    record = WebhookEndpointChanged(
        event_id=validation.new_event_id(), tenant_id=who.tenant_id, endpoint_id=endpoint_id, action="created",
        url=given.url, event_types=list(given.event_types), enabled=True,
        secret=svc.secrets.seal(secret, rules.secret_context(who.tenant_id, endpoint_id)), actor=who.actor,
        occurred_at=now, description=given.description,
    )  # fmt: skip
    applied = await _write(request, svc, who, record, None)
    # The signing secret is shown this once; the record and the projection hold it sealed.
    return _answer({**_shown(record, now, now), "secret": secret}, applied, created=True)


async def list_webhooks(request: Request) -> Response:
    svc, who = await caller(request)
    return json_response({"webhooks": [_stored(e) for e in await store.all_of(svc.pool, who.tenant_id)]})


async def get_webhook(request: Request) -> Response:
    svc, who = await caller(request)
    return json_response(_stored(await _found(svc, who, request)))


def _as_record(e: Endpoint, who: Caller, action: str, now: datetime) -> WebhookEndpointChanged:
    return WebhookEndpointChanged(
        event_id=validation.new_event_id(), tenant_id=who.tenant_id, endpoint_id=e.endpoint_id, action=action,
        url=e.url, event_types=list(e.event_types), enabled=e.enabled, secret=e.secret, actor=who.actor,
        occurred_at=now, description=e.description, disabled_reason=e.disabled_reason,
    )  # fmt: skip


async def patch_webhook(request: Request) -> Response:
    svc, who = await caller(request)
    current = await _found(svc, who, request)
    given = rules.change(await read_json(request))
    record = _as_record(current, who, "updated", datetime.now(UTC))
    enabled = current.enabled if given.enabled is None else given.enabled
    record = replace(
        record,
        url=given.url or current.url,
        event_types=list(given.event_types or current.event_types),
        description=given.description if given.description_given else current.description,
        enabled=enabled,
        # Enabled again by its tenant: the reason it was disabled no longer holds.
        disabled_reason=None if enabled else (current.disabled_reason or "disabled by the tenant"),
    )
    applied = await _write(request, svc, who, record, current)
    return _answer(_shown(record, current.created_at, record.occurred_at), applied)


async def delete_webhook(request: Request) -> Response:
    svc, who = await caller(request)
    current = await _found(svc, who, request)
    record = replace(_as_record(current, who, store.DELETED, datetime.now(UTC)), enabled=False)
    applied = await _write(request, svc, who, record, current)
    body = {"endpoint_id": current.endpoint_id, "deleted": True}
    return json_response(
        {**body, "status": "applied" if applied else "pending"}, status=200 if applied else 202
    )


async def rotate_secret(request: Request) -> Response:
    svc, who = await caller(request)
    current = await _found(svc, who, request)
    secret = new_secret()
    sealed = svc.secrets.seal(secret, rules.secret_context(who.tenant_id, current.endpoint_id))
    record = replace(_as_record(current, who, "secret_rotated", datetime.now(UTC)), secret=sealed)
    applied = await _write(request, svc, who, record, current)
    return _answer({**_shown(record, current.created_at, record.occurred_at), "secret": secret}, applied)


def _delivery(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "delivery_id": row["delivery_id"],
        "event_type": row["event_type"],
        "status": row["status"],
        "attempts": row["attempts"],
        "last_status_code": row["last_status"],
        "last_error": row["last_error"],
        "next_attempt_at": None if row["status"] in ("delivered", "failed") else row["next_attempt_at"],
        "delivered_at": row["delivered_at"],
        "failed_at": row["failed_at"],
        "redelivered_at": row["redelivered_at"],
        "created_at": row["created_at"],
    }


async def list_deliveries(request: Request) -> Response:
    svc, who = await caller(request)
    endpoint = await _found(svc, who, request)
    limit = paging.limit(request, default=PAGE_DEFAULT, most=PAGE_MAX)
    cursor = request.query_params.get("cursor")
    rows = await webhook_deliveries.of_endpoint(
        svc.pool, who.tenant_id, endpoint.endpoint_id,
        after=paging.time_and_text(cursor) if cursor else None, limit=limit + 1,
    )  # fmt: skip
    page, next_cursor = paging.page(rows, limit, lambda r: (r["created_at"].isoformat(), r["delivery_id"]))
    return json_response({"deliveries": [_delivery(r) for r in page], "next_cursor": next_cursor})


async def redeliver(request: Request) -> Response:
    svc, who = await caller(request)
    endpoint = await _found(svc, who, request)
    delivery_id = request.path_params["delivery_id"]
    row = await webhook_deliveries.one_of_endpoint(svc.pool, who.tenant_id, endpoint.endpoint_id, delivery_id)
    if row is None:
        raise not_found("delivery")
    now = datetime.now(UTC)
    record = WebhookRedeliveryRequested(
        event_id=validation.new_event_id(), tenant_id=who.tenant_id, endpoint_id=endpoint.endpoint_id,
        delivery_id=delivery_id, actor=who.actor, occurred_at=now,
    )  # fmt: skip
    trail = audit_entry(
        request, who, action="webhook.redeliver", target=f"webhook:{endpoint.endpoint_id}:{delivery_id}",
        before={"status": row["status"], "attempts": row["attempts"]}, after={"status": "pending"}, now=now,
    )  # fmt: skip
    await svc.writer.publish([svc.writer.to_tenant(record)], [trail])
    applied = await svc.writer.wait(store.REDELIVERY_APPLIED, who.tenant_id, delivery_id, record.event_id)
    body = {"delivery_id": delivery_id, "endpoint_id": endpoint.endpoint_id, "redelivered_at": now}
    return json_response(
        {**body, "status": "applied" if applied else "pending"}, status=200 if applied else 202
    )
