"""What the gateway's routes share: opened in the app's lifespan, passed through app state."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import asyncpg
import httpx
from starlette.requests import HTTPConnection, Request

from gateway.http import scopes
from gateway.http.auth import Authenticator
from gateway.http.limits import GatewayLimits
from gateway.writes import Writer
from pipeline import log_context
from pipeline.assistants.tool_secrets import SecretBox
from pipeline.codec import Codec
from pipeline.publishing import Publisher
from pipeline.settings import Settings
from projections.admin import Caller

if TYPE_CHECKING:
    from gateway.chat.providers import Provider
    from gateway.chat.runtime import ChatRuntime


@dataclass(frozen=True, slots=True)
class Services:
    settings: Settings
    pool: asyncpg.Pool
    publisher: Publisher
    codec: Codec
    authenticate: Authenticator
    provider: Provider  # the chat models (or the offline demo)
    http: httpx.AsyncClient  # shared by tool calls
    chat: ChatRuntime  # widget token secret, conversations held here
    secrets: SecretBox  # seals tool secrets as they arrive, opens them to sign a call
    limits: GatewayLimits  # rate limits, shared with the other gateway processes
    write_timeout: float = 10.0

    @property
    def writer(self) -> Writer:
        """Admin writes: records with their audit entries, then read-your-writes."""
        return Writer(self.publisher, self.codec, self.pool, self.write_timeout)


def services(request: HTTPConnection) -> Services:
    found: Services = request.app.state.services
    return found


async def caller(request: Request) -> tuple[Services, Caller]:
    """The services and the caller's key, which must have the scope the route needs (gateway/http/scopes.py)."""
    svc = services(request)
    who = await svc.authenticate(request)
    # The rest of this request's log lines name its tenant (and the middleware's line, from the state).
    log_context.TENANT_ID.set(who.tenant_id)
    request.state.tenant_id = who.tenant_id
    scopes.check(request, who)
    await svc.limits.api_key(who.actor)
    return svc, who
