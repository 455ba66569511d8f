"""The tenant's Twilio account (PUT/GET /v1/voice/twilio) and checking that a request came from it.

Twilio signs every webhook and the relay socket's handshake with the account's auth token over the URL
it called (and a webhook's form parameters): `twilio.request_validator.RequestValidator` checks it.
Behind a proxy the URL Twilio called is not the one the gateway sees; REVOS_PUBLIC_URL names it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from starlette.datastructures import URL
from starlette.requests import HTTPConnection, Request
from starlette.responses import Response
from twilio.request_validator import RequestValidator

from gateway.http.body import read_json
from gateway.http.errors import ApiError
from gateway.http.responses import json_response
from gateway.services import Services, caller
from gateway.writes import audit_entry
from pipeline import validation
from pipeline.assistants.model import Assistant
from pipeline.assistants.tool_secrets import SecretUnreadable
from pipeline.records import VoiceProviderSet
from projections.chat import assistants
from projections.voice import providers

PROVIDER = "twilio"
ACCOUNT_SID = re.compile(r"^AC[0-9a-fA-F]{32}$")
AUTH_TOKEN = re.compile(r"^[0-9A-Za-z]{16,64}$")
SIGNATURE = "X-Twilio-Signature"


def _context(tenant_id: str) -> str:
    return f"{tenant_id}/voice/{PROVIDER}"


def _account_body(raw: object) -> tuple[str, str]:
    if not isinstance(raw, dict):
        raise ApiError(400, "invalid_type", "the body must be a JSON object")
    unknown = sorted(set(raw) - {"account_sid", "auth_token"})
    if unknown:
        raise ApiError(400, "unknown_field", f"unknown field(s): {', '.join(unknown)}")
    sid, token = raw.get("account_sid"), raw.get("auth_token")
    if not isinstance(sid, str) or not ACCOUNT_SID.match(sid):
        raise ApiError(
            400, "invalid_account_sid", "account_sid must be a Twilio account SID: AC and 32 hex digits"
        )
    if not isinstance(token, str) or not AUTH_TOKEN.match(token):
        raise ApiError(
            400, "invalid_auth_token", "auth_token must be the account's auth token (letters and digits)"
        )
    return sid, token


def _shown(account: providers.Account | None) -> dict[str, Any]:
    return {
        "provider": PROVIDER,
        "account_sid": None if account is None else account.account_sid,
        "auth_token_set": account is not None,
        "updated_at": None if account is None else account.updated_at,
    }


async def put_account(request: Request) -> Response:
    svc, who = await caller(request)
    sid, token = _account_body(await read_json(request))
    before = await providers.find(svc.pool, who.tenant_id)
    now = datetime.now(UTC)
    record = VoiceProviderSet(
        event_id=validation.new_event_id(),
        tenant_id=who.tenant_id,
        provider=PROVIDER,
        account_sid=sid,
        auth_token=svc.secrets.seal(token, _context(who.tenant_id)),
        actor=who.actor,
        occurred_at=now,
    )
    shown_before = None if before is None else _shown(before)
    trail = audit_entry(
        request, who, action="voice.twilio.set", target=f"voice:{PROVIDER}", before=shown_before,
        after={"provider": PROVIDER, "account_sid": sid, "auth_token_set": True}, now=now,
    )  # fmt: skip
    await svc.writer.publish([svc.writer.to_tenant(record)], [trail])
    applied = await svc.writer.wait(providers.APPLIED, who.tenant_id, record.event_id)
    body = {"provider": PROVIDER, "account_sid": sid, "auth_token_set": True, "updated_at": now}
    return json_response(
        {**body, "status": "applied" if applied else "pending"}, status=200 if applied else 202
    )


async def get_account(request: Request) -> Response:
    svc, who = await caller(request)
    return json_response(_shown(await providers.find(svc.pool, who.tenant_id)))


@dataclass(frozen=True, slots=True)
class Line:
    """Who a Twilio request is for: the agent (and so the tenant) and the account it must be signed by."""

    agent: Assistant
    account_sid: str
    auth_token: str


async def line_of(svc: Services, agent: Assistant | None) -> Line | None:
    """The agent's tenant's Twilio account, opened; None when the tenant has none (or it cannot be read)."""
    if agent is None:
        return None
    account = await providers.find(svc.pool, agent.tenant_id)
    if account is None:
        return None
    try:
        token = svc.secrets.open(account.auth_token, _context(agent.tenant_id))
    except SecretUnreadable:
        return None
    return Line(agent, account.account_sid, token)


async def agent_named(svc: Services, agent_id: str | None) -> Assistant | None:
    return None if not agent_id else await assistants.load_public(svc.pool, agent_id)


def called_url(svc: Services, conn: HTTPConnection) -> str:
    """The URL Twilio called: REVOS_PUBLIC_URL's origin with the request's path and query when set."""
    url: URL = conn.url
    public = svc.settings.public_url
    if public is None:
        return str(url)
    scheme, _, host = public.partition("://")
    if url.scheme in ("ws", "wss"):
        scheme = "wss" if scheme == "https" else "ws"
    return str(url.replace(scheme=scheme, netloc=host))


def public_base(svc: Services, conn: HTTPConnection, *, websocket: bool = False) -> str:
    """The origin the outside world reaches this gateway at (ws/wss for a socket URL)."""
    scheme, _, host = (svc.settings.public_url or f"{conn.url.scheme}://{conn.url.netloc}").partition("://")
    if websocket:
        scheme = "wss" if scheme == "https" else "ws"
    return f"{scheme}://{host}"


def signed(svc: Services, conn: HTTPConnection, line: Line, params: dict[str, str]) -> bool:
    """True when the request carries the account's signature over the URL Twilio called and `params`."""
    signature = conn.headers.get(SIGNATURE)
    if not signature:
        return False
    return bool(RequestValidator(line.auth_token).validate(called_url(svc, conn), params, signature))


def refuse_unsigned() -> ApiError:
    return ApiError(
        403, "invalid_signature", "the request is not signed by the Twilio account of this number"
    )
