"""Tenants' voice provider accounts: the writer fed by VoiceProviderSet records, and the lookup the
webhooks validate signatures with (the token stays sealed here; the gateway opens it)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg

from pipeline.records import VoiceProviderSet

# Records of one tenant share a partition: the log's order is the order of the writes.
UPSERT = """
INSERT INTO voice_providers (tenant_id, provider, account_sid, auth_token, event_id, updated_at)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (tenant_id) DO UPDATE SET
    provider = EXCLUDED.provider, account_sid = EXCLUDED.account_sid, auth_token = EXCLUDED.auth_token,
    event_id = EXCLUDED.event_id, updated_at = EXCLUDED.updated_at
"""
FIND = (
    "SELECT provider, account_sid, auth_token, event_id, updated_at FROM voice_providers WHERE tenant_id = $1"
)
APPLIED = "SELECT 1 FROM voice_providers WHERE tenant_id = $1 AND event_id = $2"


@dataclass(frozen=True, slots=True)
class Account:
    provider: str
    account_sid: str
    auth_token: str  # sealed
    updated_at: datetime


async def apply(conn: asyncpg.Connection, r: VoiceProviderSet) -> None:
    await conn.execute(
        UPSERT, r.tenant_id, r.provider, r.account_sid, r.auth_token, r.event_id, r.occurred_at
    )


async def find(pool: asyncpg.Pool | asyncpg.Connection, tenant_id: str) -> Account | None:
    row = await pool.fetchrow(FIND, tenant_id)
    if row is None:
        return None
    return Account(row["provider"], row["account_sid"], row["auth_token"], row["updated_at"])
