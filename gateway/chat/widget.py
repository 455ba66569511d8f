"""Widget session tokens: `POST /v1/widget/sessions` for a page whose Origin the agent's allowlist
names, and `POST /v1/agents/{agent_id}/test-sessions` for the dashboard's test chat.

The first needs no API key: the widget runs on the tenant's public pages. The browser sets `Origin` and
page scripts cannot change it, so the allowlist is enforced here (and again when the socket opens). CORS
headers echo the origin on every answer, refusals included, so the widget can read why it was refused.

The second is an admin call (a key, or the dashboard's session cookie with its CSRF token) for one of the
caller's own agents: its token names the gateway's own origin, which the socket accepts as it accepts the
hosted chat page, so an agent can be tried before any site is on its allowlist. Each session request
for an existing agent from a site is a sighting of its origin, allowed or refused (gateway/chat/sightings.py).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from starlette.requests import HTTPConnection, Request
from starlette.responses import Response

from gateway.http.body import read_json
from gateway.http.errors import ApiError, error_response, not_found
from gateway.http.limits import refusal
from gateway.http.responses import json_response
from gateway.services import Services, caller, services
from pipeline.assistants.allowlist import origin_allowed
from pipeline.assistants.model import Assistant
from pipeline.chat import widget_tokens
from pipeline.errors import ValidationError
from projections.chat import assistants

MAX_BODY = 4096
_VISITOR_ID = re.compile(r"[A-Za-z0-9_.:-]{1,100}")
_FIELDS = frozenset({"agent_id", "visitor_id"})


def public_agent(assistant: Assistant) -> dict[str, Any]:
    """What a visitor may know of an agent: its name and branding (never its prompt or tools)."""
    return {"agent_id": assistant.agent_id, "name": assistant.name, "branding": asdict(assistant.branding)}


def own_origin(conn: HTTPConnection) -> str:
    """The gateway's origin as this request reached it (a socket's ws/wss read as http/https)."""
    scheme = {"ws": "http", "wss": "https"}.get(conn.url.scheme, conn.url.scheme)
    return f"{scheme}://{conn.headers.get('host', '')}"


def may_embed(origin: str, assistant: Assistant, conn: HTTPConnection) -> bool:
    """A page on an allowed domain, or the gateway's own hosted chat page (GET /chat/{agent_id}),
    whose framing the Content-Security-Policy restricts instead: a header check cannot tell where
    a page of the gateway's own origin is framed."""
    return origin_allowed(origin, assistant.allowed_domains) or origin == own_origin(conn)


def _cors(origin: str | None) -> dict[str, str]:
    headers = {"Vary": "Origin"}
    if origin:
        headers["Access-Control-Allow-Origin"] = origin
    return headers


def _body(raw: object) -> tuple[str, str | None]:
    if not isinstance(raw, dict):
        raise ApiError(400, "invalid_type", "the body must be a JSON object")
    unknown = sorted(set(raw) - _FIELDS)
    if unknown:
        raise ApiError(400, "unknown_field", f"the body has unknown field(s): {', '.join(unknown)}")
    agent_id = raw.get("agent_id")
    # PostgreSQL text cannot hold NUL: an id with one names no agent, and must not reach the query.
    if not isinstance(agent_id, str) or not agent_id or len(agent_id) > 100 or "\x00" in agent_id:
        raise ApiError(400, "invalid_agent_id", "agent_id must be an agent id (agt_...)")
    visitor_id = raw.get("visitor_id")
    if visitor_id is not None and (not isinstance(visitor_id, str) or not _VISITOR_ID.fullmatch(visitor_id)):
        raise ApiError(400, "invalid_visitor_id", "visitor_id must be 1 to 100 letters, digits or _ . : -")
    return agent_id, visitor_id


async def _create(request: Request, origin: str) -> Response:
    svc = services(request)
    grant = await svc.limits.session(request.client.host if request.client else None)
    if not grant.granted:
        raise refusal(grant, "sessions from this address")
    agent_id, visitor_id = _body(await read_json(request, limit=MAX_BODY))
    assistant = await assistants.load_public(svc.pool, agent_id)
    if assistant is None:
        raise ApiError(404, "agent_not_found", "no such agent")
    allowed = may_embed(origin, assistant, request)
    svc.chat.sightings.saw(assistant.tenant_id, assistant.agent_id, origin, allowed)
    if not allowed:
        raise ApiError(
            403,
            "origin_not_allowed",
            f"{origin} is not in this agent's allowed domains; add its host to them",
        )
    return _issued(svc, assistant, origin, visitor_id or "vis_" + uuid.uuid4().hex)


def _issued(svc: Services, assistant: Assistant, origin: str, visitor_id: str) -> Response:
    token = widget_tokens.issue(
        svc.chat.secret, assistant.tenant_id, assistant.agent_id, origin, visitor_id, datetime.now(UTC)
    )
    expires = widget_tokens.verify(svc.chat.secret, token, datetime.now(UTC)).expires
    return json_response(
        {"token": token, "expires_at": expires, "visitor_id": visitor_id, "agent": public_agent(assistant)},
        status=201,
    )


def test_visitor(actor: str) -> str:
    """The visitor a test chat speaks as: the person or key trying the agent (`test:user:usr_...`), so
    the conversation says who held it and a reload resumes it."""
    return "test:" + actor


async def post_test_session(request: Request) -> Response:
    """A session token for the gateway's own origin, for one of the caller's agents: the dashboard's
    test chat. No body (or `{}`)."""
    svc, who = await caller(request)
    body = await read_json(request, limit=MAX_BODY, optional=True)
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_type", "the body must be a JSON object")
    if body:
        raise ApiError(400, "unknown_field", f"the body has unknown field(s): {', '.join(sorted(body))}")
    assistant = await assistants.load(svc.pool, who.tenant_id, request.path_params["agent_id"])
    if assistant is None:  # absent, deleted, or another tenant's: all look the same
        raise not_found("agent")
    return _issued(svc, assistant, own_origin(request), test_visitor(who.actor))


def _with_cors(
    handler: Callable[[Request, str], Awaitable[Response]],
) -> Callable[[Request], Awaitable[Response]]:
    """Answers, errors included, carry the CORS headers for the request's origin."""

    async def wrapped(request: Request) -> Response:
        origin = request.headers.get("origin")
        headers = _cors(origin)
        if request.method == "OPTIONS":
            headers.update(
                {
                    "Access-Control-Allow-Methods": "POST, OPTIONS",
                    "Access-Control-Allow-Headers": "Content-Type",
                    "Access-Control-Max-Age": "600",
                }
            )
            return Response(status_code=204, headers=headers)
        try:
            if not origin:
                raise ApiError(
                    403, "origin_required", "session tokens are issued to web pages: send an Origin header"
                )
            response = await handler(request, origin)
        except ApiError as exc:
            return error_response(exc.status, exc.code, exc.message, {**exc.headers, **headers})
        except ValidationError as exc:
            return error_response(400, exc.code, exc.message, headers)
        response.headers.update(headers)
        return response

    return wrapped


post_session = _with_cors(_create)
