"""The admin stream processor: tenants, API keys (issued and revoked), dashboard users, assistants, the
tenants' voice provider accounts and their webhook endpoints (and redeliveries asked of them)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from agents.runner import Message, decode_all, unexpected
from pipeline.codec import Codec
from pipeline.records import (
    ApiKeyIssued,
    ApiKeyRevoked,
    AssistantChanged,
    DeadLetter,
    TenantCreated,
    UserCreated,
    UserPasswordChanged,
    VoiceProviderSet,
    WebhookEndpointChanged,
    WebhookRedeliveryRequested,
)
from projections import admin as store
from projections import users
from projections.chat import assistants
from projections.voice import providers
from projections.webhooks import endpoints

CONSUMER = "admin"
STAGE = "admin.apply"


@dataclass(slots=True)
class AdminProjection:
    codec: Codec
    consumer: str = CONSUMER
    stage: str = STAGE

    async def apply(
        self, conn: asyncpg.Connection, topic: str, partition: int, messages: Sequence[Message]
    ) -> list[DeadLetter]:
        decoded, dead = decode_all(self.codec, self.stage, messages)
        for m, record in decoded:
            if isinstance(record, TenantCreated):
                await store.create_tenant(conn, record)
            elif isinstance(record, ApiKeyIssued):
                await store.issue_key(conn, record)
            elif isinstance(record, ApiKeyRevoked):
                await store.revoke_key(conn, record)
            elif isinstance(record, UserCreated):
                await users.create(conn, record)
            elif isinstance(record, UserPasswordChanged):
                await users.change_password(conn, record)
            elif isinstance(record, AssistantChanged):
                await assistants.apply(conn, record)
            elif isinstance(record, VoiceProviderSet):
                await providers.apply(conn, record)
            elif isinstance(record, WebhookEndpointChanged):
                await endpoints.apply(conn, record)
            elif isinstance(record, WebhookRedeliveryRequested):
                await endpoints.redeliver(conn, record)
            else:
                dead.append(unexpected(self.stage, m, record))
        return dead
