"""Client error reports: `POST /v1/client-errors` from the widget and the dashboard's pages.

No API key. The widget authenticates with its session token in the query (`?token=...`, as its socket
does, so `navigator.sendBeacon` can send a report without custom headers) from the origin the token
names; the dashboard with its session cookie and CSRF token. The body is at most 8 KiB; reports are
rate-limited per client address (before the body is read) and per agent. Each report is one warning
log line carrying the report as its `client_error` field (redacted like every line) and a count in
`revos_client_errors_total{source,kind,agent_id}`, whose `agent_id` is a known agent of the caller's
tenant or `unknown`, so a page cannot grow the metric's labels without bound.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from prometheus_client import Counter
from starlette.requests import Request
from starlette.responses import Response

from gateway.http.auth import SESSION_COOKIE
from gateway.http.body import read_json
from gateway.http.errors import ApiError
from gateway.http.limits import refusal
from gateway.http.responses import json_response
from gateway.services import Services, services
from pipeline import log_context
from pipeline.chat import widget_tokens
from projections.chat import assistants

log = logging.getLogger(__name__)

MAX_BODY = 8192
SOURCES = ("widget", "dashboard")
KINDS = ("error", "connection")
UNKNOWN = "unknown"
NO_AGENT = "-"  # the dashboard's pages about no agent in particular
# The longest each text field may be (a stack trace is the long one).
_TEXTS = {"message": 2000, "stack": 6000, "url": 2000, "user_agent": 500}
_FIELDS = frozenset({"source", "agent_id", "kind", *_TEXTS})

CLIENT_ERRORS = Counter(
    "revos_client_errors",
    "Errors reported by the widget and the dashboard's pages, by source, kind (error, connection) and "
    "agent (unknown when the caller's tenant has no such agent)",
    ["source", "kind", "agent_id"],
)


@dataclass(frozen=True, slots=True)
class Report:
    source: str
    kind: str
    message: str
    agent_id: str | None = None
    stack: str | None = None
    url: str | None = None
    user_agent: str | None = None


def parse(raw: object) -> Report:
    """A report from a request body; 400 with the field's code otherwise."""
    if not isinstance(raw, dict):
        raise ApiError(400, "invalid_type", "the body must be a JSON object")
    unknown = sorted(set(raw) - _FIELDS)
    if unknown:
        raise ApiError(400, "unknown_field", f"the body has unknown field(s): {', '.join(unknown)}")
    source, kind = raw.get("source"), raw.get("kind")
    if source not in SOURCES:
        raise ApiError(400, "invalid_source", "source must be 'widget' or 'dashboard'")
    if kind not in KINDS:
        raise ApiError(400, "invalid_kind", "kind must be 'error' or 'connection'")
    texts: dict[str, str | None] = {}
    for name, longest in _TEXTS.items():
        value = raw.get(name)
        if value is None and name != "message":
            texts[name] = None
            continue
        if not isinstance(value, str) or len(value) > longest or (name == "message" and not value):
            raise ApiError(400, f"invalid_{name}", f"{name} must be a string of 1 to {longest} characters")
        texts[name] = value
    agent_id = raw.get("agent_id")
    if agent_id is not None and (
        not isinstance(agent_id, str) or not agent_id or len(agent_id) > 100 or "\x00" in agent_id
    ):
        raise ApiError(400, "invalid_agent_id", "agent_id must be an agent id (agt_...)")
    return Report(source=source, kind=kind, agent_id=agent_id, **texts)  # type: ignore[arg-type]


async def _widget_caller(svc: Services, request: Request, report: Report) -> tuple[str, str | None]:
    """The tenant and agent of a widget's session token, sent from the origin it was issued to."""
    try:
        claims = widget_tokens.verify(
            svc.chat.secret, request.query_params.get("token", ""), datetime.now(UTC)
        )
    except widget_tokens.TokenError as exc:
        raise ApiError(401, exc.code, exc.message) from exc
    if request.headers.get("origin") != claims.origin:
        raise ApiError(403, "origin_not_allowed", "this session belongs to another origin")
    if report.agent_id is not None and report.agent_id != claims.agent_id:
        return claims.tenant_id, None
    return claims.tenant_id, claims.agent_id


async def _dashboard_caller(svc: Services, request: Request, report: Report) -> tuple[str, str | None]:
    """The tenant of a dashboard session (its CSRF token checked), and the agent the report names."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        raise ApiError(401, "session_ended", "sign in to the dashboard to report its errors")
    who = await svc.authenticate.user(request, token)
    return who.tenant_id, report.agent_id


async def post_client_error(request: Request) -> Response:
    svc = services(request)
    address = request.client.host if request.client else None
    grant = await svc.limits.client_error_address(address)
    if not grant.granted:
        raise refusal(grant, "error reports from this address")
    try:
        raw = await read_json(request, limit=MAX_BODY)
    except ApiError as exc:
        if exc.code == "body_too_large":
            raise ApiError(413, "payload_too_large", f"an error report is at most {MAX_BODY} bytes") from exc
        raise
    report = parse(raw)
    if report.source == "widget":
        tenant_id, agent_id = await _widget_caller(svc, request, report)
    else:
        tenant_id, agent_id = await _dashboard_caller(svc, request, report)
    log_context.TENANT_ID.set(tenant_id)
    request.state.tenant_id = tenant_id
    known = agent_id is not None and await assistants.load(svc.pool, tenant_id, agent_id) is not None
    label = agent_id if known and agent_id is not None else UNKNOWN
    limited = await svc.limits.client_error_agent(tenant_id, label if agent_id is not None else NO_AGENT)
    if not limited.granted:
        raise refusal(limited, "error reports for this agent")
    CLIENT_ERRORS.labels(report.source, report.kind, label).inc()
    fields: dict[str, Any] = {
        "source": report.source,
        "kind": report.kind,
        "agent_id": label,
        "message": report.message,
        "stack": report.stack,
        "url": report.url,
        "user_agent": report.user_agent,
        "address": address,
    }
    log.warning(
        "client error (%s, %s, agent %s): %s",
        report.source,
        report.kind,
        label,
        report.message[:300],
        extra={"client_error": {k: v for k, v in fields.items() if v is not None}},
    )
    return json_response({"accepted": True}, status=202)
