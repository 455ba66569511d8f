"""What the chat socket and the session route share in one gateway process, built in the lifespan."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from gateway.chat.conversations import Hub
from gateway.chat.widget_secret import widget_secret
from pipeline.rate_limits import RateLimiter
from pipeline.settings import Settings
from projections.chat_leases import PostgresLeases


@dataclass(frozen=True, slots=True)
class ChatRuntime:
    secret: bytes  # signs widget session tokens
    hub: Hub
    session_limits: RateLimiter
    ip_limits: RateLimiter
    ping_seconds: float
    idle_seconds: float


def chat_runtime(settings: Settings, pool: asyncpg.Pool) -> ChatRuntime:
    ip_rate = settings.chat_ip_per_minute
    return ChatRuntime(
        secret=widget_secret(settings),
        hub=Hub(pool, PostgresLeases(pool)),
        session_limits=RateLimiter(settings.chat_session_per_minute, settings.chat_session_burst),
        # A minute's worth at once: one address may be a whole office behind one NAT.
        ip_limits=RateLimiter(ip_rate, ip_rate),
        ping_seconds=settings.chat_ping_seconds,
        idle_seconds=settings.chat_idle_seconds,
    )
