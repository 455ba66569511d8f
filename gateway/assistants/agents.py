"""POST/GET/PATCH/DELETE /v1/agents[/{agent_id}]: a tenant's AI assistants. Tool secrets never leave,
and are sealed (pipeline/assistants/tool_secrets.py) before the record that carries them is published."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from gateway.http.body import read_json
from gateway.http.errors import ApiError, not_found
from gateway.http.responses import json_response
from gateway.services import Services, caller
from gateway.writes import audit_entry
from pipeline.assistants import model as assistants
from pipeline.assistants import tool_secrets
from pipeline.records import AssistantChanged
from projections.admin import Caller
from projections.chat import assistants as store

_ACTIONS = {"created": "agent.create", "updated": "agent.update", "deleted": "agent.delete"}


def _shown(stored: store.Stored) -> dict[str, Any]:
    return {
        **assistants.public(stored.assistant),
        "created_at": stored.created_at,
        "updated_at": stored.updated_at,
    }


async def _found(svc: Services, who: Caller, request: Request) -> store.Stored:
    stored = await store.find(svc.pool, who.tenant_id, request.path_params["agent_id"])
    if stored is None:  # absent, deleted, or another tenant's: all look the same
        raise not_found("agent")
    return stored


async def _publish(
    request: Request, svc: Services, who: Caller, record: AssistantChanged, before: dict[str, Any] | None
) -> bool:
    """Publish the record and its audit entry; a phone number another agent has is refused (409)."""
    if record.voice is None or record.action == "deleted":
        return await _publish_sealed(request, svc, who, record, before)
    number = record.voice.phone_number
    async with store.number_claim(svc.pool, number):
        holder = await store.by_phone_number(svc.pool, number)
        if holder is not None and (holder.tenant_id, holder.agent_id) != (record.tenant_id, record.agent_id):
            raise ApiError(409, "phone_number_taken", f"{number} is the phone number of another agent")
        return await _publish_sealed(request, svc, who, record, before)


async def _publish_sealed(
    request: Request, svc: Services, who: Caller, record: AssistantChanged, before: dict[str, Any] | None
) -> bool:
    """Publish the record, its secrets sealed, and its audit entry together; True once the projection
    shows the record."""
    record = tool_secrets.sealed(svc.secrets, record)
    after = None if record.action == "deleted" else assistants.public(assistants.from_record(record))
    trail = audit_entry(
        request,
        who,
        action=_ACTIONS[record.action],
        target=f"agent:{record.agent_id}",
        before=before,
        after=after,
        now=record.occurred_at,
    )
    await svc.writer.publish([svc.writer.to_tenant(record)], [trail])
    return await svc.writer.wait(store.APPLIED, record.tenant_id, record.agent_id, record.event_id)


def _written(
    record: AssistantChanged, created_at: datetime, applied: bool, *, created: bool, had_secret: bool = False
) -> Response:
    shown = assistants.public(assistants.from_record(record))
    if record.voice is not None and record.voice.status_webhook_secret is not None and not had_secret:
        # A status webhook's new signing secret is shown this once (the record is sealed; this one is not).
        shown["voice"] = {**shown["voice"], "status_webhook_secret": record.voice.status_webhook_secret}
    body = {**shown, "created_at": created_at, "updated_at": record.occurred_at}
    status = (201 if created else 200) if applied else 202
    return json_response({**body, "status": "applied" if applied else "pending"}, status=status)


async def post_agent(request: Request) -> Response:
    svc, who = await caller(request)
    body = await read_json(request)
    record = assistants.create(
        body,
        tenant_id=who.tenant_id,
        agent_id=assistants.new_agent_id(),
        actor=who.actor,
        now=datetime.now(UTC),
    )
    applied = await _publish(request, svc, who, record, None)
    return _written(record, record.occurred_at, applied, created=True)


async def list_agents(request: Request) -> Response:
    svc, who = await caller(request)
    return json_response({"agents": [_shown(s) for s in await store.listing(svc.pool, who.tenant_id)]})


async def get_agent(request: Request) -> Response:
    svc, who = await caller(request)
    return json_response(_shown(await _found(svc, who, request)))


async def patch_agent(request: Request) -> Response:
    svc, who = await caller(request)
    stored = await _found(svc, who, request)
    body = await read_json(request)
    current = tool_secrets.opened(svc.secrets, stored.assistant)  # a tool named again keeps its secret
    record = assistants.update(body, current=current, actor=who.actor, now=datetime.now(UTC))
    applied = await _publish(request, svc, who, record, assistants.public(stored.assistant))
    had_secret = current.voice is not None and current.voice.status_webhook_secret is not None
    return _written(record, stored.created_at, applied, created=False, had_secret=had_secret)


async def delete_agent(request: Request) -> Response:
    svc, who = await caller(request)
    stored = await _found(svc, who, request)
    record = assistants.delete(stored.assistant, actor=who.actor, now=datetime.now(UTC))
    applied = await _publish(request, svc, who, record, assistants.public(stored.assistant))
    return json_response(
        {"agent_id": record.agent_id, "deleted": True, "status": "applied" if applied else "pending"},
        status=200 if applied else 202,
    )
