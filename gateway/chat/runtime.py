"""What the chat socket and the session route share in one gateway process, built in the lifespan."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from gateway.chat.hub import Hub
from gateway.chat.sightings import SightingRecorder
from gateway.chat.widget_secret import widget_secret
from pipeline.settings import Settings
from projections.chat.leases import PostgresLeases
from projections.chat.sightings import PostgresSightings


@dataclass(frozen=True, slots=True)
class ChatRuntime:
    secret: bytes  # signs widget session tokens
    hub: Hub
    ping_seconds: float
    idle_seconds: float
    sightings: SightingRecorder  # the page origins session requests came from


def chat_runtime(settings: Settings, pool: asyncpg.Pool) -> ChatRuntime:
    return ChatRuntime(
        secret=widget_secret(settings),
        hub=Hub(pool, PostgresLeases(pool)),
        ping_seconds=settings.chat_ping_seconds,
        idle_seconds=settings.chat_idle_seconds,
        sightings=SightingRecorder(PostgresSightings(pool)),
    )
