"""GET /v1/agents/{agent_id}/sightings: the page origins the agent's widget asked for sessions from
(docs/chat.md#sightings), each with whether the agent's current allowlist names it."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from gateway.http.errors import not_found
from gateway.http.responses import json_response
from gateway.services import caller
from pipeline.assistants.allowlist import origin_allowed
from projections.chat import assistants, sightings


async def get_sightings(request: Request) -> Response:
    svc, who = await caller(request)
    agent = await assistants.load(svc.pool, who.tenant_id, request.path_params["agent_id"])
    if agent is None:  # absent, deleted, or another tenant's: all look the same
        raise not_found("agent")
    listed = await sightings.listing(svc.pool, agent.tenant_id, agent.agent_id)
    return json_response(
        {
            "sightings": [
                {
                    "origin": s.origin,
                    "allowed": s.allowed,
                    "in_allowlist": origin_allowed(s.origin, agent.allowed_domains),
                    "first_seen": s.first_seen,
                    "last_seen": s.last_seen,
                    "sessions": s.sessions,
                    "refused": s.refused,
                }
                for s in listed
            ]
        }
    )
