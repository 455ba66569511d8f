"""The gateway's rate limits, shared by every gateway process through PostgreSQL (docs/api.md and
docs/chat.md): requests per API key, chat sessions issued and sockets opened per client address,
messages per visitor and per client address, client error reports per client address and per agent.
Over a limit: 429 `rate_limited` with `Retry-After`."""

from __future__ import annotations

import asyncio

from gateway.http.errors import ApiError
from pipeline.chat.rate_limits import Allowances, Grant, Limit, Limiter, retry_seconds
from pipeline.client_address import limit_key
from pipeline.settings import Settings

API_KEY = "api.key"  # requests, per API key
SESSIONS = "chat.sessions"  # widget sessions issued, per client address
CONNECTS = "chat.connects"  # chat sockets opened, per client address
VISITOR = "chat.visitor"  # chat messages, per visitor of an agent (whatever its token)
ADDRESS = "chat.address"  # chat messages, per client address
LOGIN_EMAIL = "dashboard.login.email"  # sign-in attempts, per email
LOGIN_ADDRESS = "dashboard.login.address"  # sign-in and sign-up attempts, per client address
CLIENT_ERRORS_ADDRESS = "client_errors.address"  # client error reports, per client address
CLIENT_ERRORS_AGENT = "client_errors.agent"  # client error reports, per agent (or dashboard tenant)


def refusal(grant: Grant, what: str = "requests") -> ApiError:
    wait = retry_seconds(grant)
    return ApiError(429, "rate_limited", f"too many {what}; retry in {wait} s", {"Retry-After": str(wait)})


class GatewayLimits:
    """Every limit the gateway enforces, on one shared `Limiter`."""

    def __init__(self, limiter: Limiter, settings: Settings) -> None:
        s = settings
        self._limiter = limiter
        self._api = Allowances(Limit(s.api_key_per_second, max(1, s.api_key_burst)))
        self._refills: dict[str, asyncio.Task[Grant]] = {}
        # A minute's worth at once: one address may be a whole office behind one NAT.
        self._sessions = Limit.per_minute(s.chat_new_sessions_per_minute, s.chat_new_sessions_per_minute)
        self._connects = Limit.per_minute(s.chat_connects_per_minute, s.chat_connects_per_minute)
        self._visitor = Limit.per_minute(s.chat_session_per_minute, s.chat_session_burst)
        self._address = Limit.per_minute(s.chat_ip_per_minute, s.chat_ip_per_minute)
        self._login = Limit.per_minute(s.login_per_minute, s.login_per_minute)
        self._errors_address = Limit.per_minute(s.client_errors_ip_per_minute, s.client_errors_ip_per_minute)
        self._errors_agent = Limit.per_minute(
            s.client_errors_agent_per_minute, s.client_errors_agent_per_minute
        )

    async def api_key(self, key_id: str) -> None:
        """Count one request of `key_id`; raises a 429 ApiError over the limit."""
        while True:
            held = self._api.spend(key_id)
            if held is not None:
                break
            pending = self._refills.get(key_id)
            if pending is not None:  # one trip to the store per key at a time; the others wait for it
                await asyncio.wait({pending})
                continue
            refill = asyncio.ensure_future(
                self._limiter.take(API_KEY, key_id, self._api.limit, self._api.chunk)
            )
            self._refills[key_id] = refill
            try:
                held = self._api.refill(key_id, await refill)
            finally:
                del self._refills[key_id]
            break
        if not held.granted:
            raise refusal(held)

    async def session(self, address: str | None) -> Grant:
        return await self._limiter.take(SESSIONS, limit_key(address), self._sessions)

    async def connect(self, address: str | None) -> Grant:
        return await self._limiter.take(CONNECTS, limit_key(address), self._connects)

    async def message(self, tenant_id: str, agent_id: str, visitor_id: str, address: str | None) -> Grant:
        visitor = await self._limiter.take(VISITOR, f"{tenant_id}:{agent_id}:{visitor_id}", self._visitor)
        if not visitor.granted:
            return visitor
        return await self._limiter.take(ADDRESS, limit_key(address), self._address)

    async def login(self, email: str | None, address: str | None) -> Grant:
        """One sign-in (or sign-up, without an email) attempt: per client address, then per email, so
        guessing one user's password from many addresses is held back as well."""
        by_address = await self._limiter.take(LOGIN_ADDRESS, limit_key(address), self._login)
        if not by_address.granted or email is None:
            return by_address
        return await self._limiter.take(LOGIN_EMAIL, email, self._login)

    async def client_error_address(self, address: str | None) -> Grant:
        """One client error report from `address` (before its body is read)."""
        return await self._limiter.take(CLIENT_ERRORS_ADDRESS, limit_key(address), self._errors_address)

    async def client_error_agent(self, tenant_id: str, agent_id: str) -> Grant:
        """One client error report about an agent of a tenant (`-` for the dashboard's own pages)."""
        return await self._limiter.take(CLIENT_ERRORS_AGENT, f"{tenant_id}:{agent_id}", self._errors_agent)
