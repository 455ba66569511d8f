"""A tenant's webhook endpoints: the writer fed by WebhookEndpointChanged and WebhookRedeliveryRequested
records, and the reads the gateway and the sender make (the secret stays sealed here)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from pipeline.records import WebhookEndpointChanged, WebhookRedeliveryRequested

DELETED = "deleted"

# Records of one tenant share a partition: the log's order is the order of the writes.
UPSERT = """
INSERT INTO webhook_endpoints (tenant_id, endpoint_id, url, event_types, description, enabled, disabled_reason,
                               secret, event_id, created_at, updated_at, deleted_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10, $11)
ON CONFLICT (tenant_id, endpoint_id) DO UPDATE SET
    url = EXCLUDED.url, event_types = EXCLUDED.event_types, description = EXCLUDED.description,
    enabled = EXCLUDED.enabled, disabled_reason = EXCLUDED.disabled_reason, secret = EXCLUDED.secret,
    event_id = EXCLUDED.event_id, updated_at = EXCLUDED.updated_at, deleted_at = EXCLUDED.deleted_at
"""
# Enabled again by its tenant (or changed while enabled): its failure streak starts over.
RESET_HEALTH = "DELETE FROM webhook_endpoint_health WHERE tenant_id = $1 AND endpoint_id = $2"
REDELIVER = """
UPDATE webhook_deliveries
SET delivered_at = NULL, failed_at = NULL, next_attempt_at = clock_timestamp(), redelivered_at = $4,
    redelivery_event_id = $5
WHERE tenant_id = $1 AND endpoint_id = $2 AND webhook_id = $3
  AND redelivery_event_id IS DISTINCT FROM $5
"""
COLUMNS = """endpoint_id, url, event_types, description, enabled, disabled_reason, secret, created_at,
updated_at"""
FIND = f"""SELECT {COLUMNS} FROM webhook_endpoints
WHERE tenant_id = $1 AND endpoint_id = $2 AND deleted_at IS NULL"""
LIST = f"""SELECT {COLUMNS} FROM webhook_endpoints
WHERE tenant_id = $1 AND deleted_at IS NULL ORDER BY created_at, endpoint_id"""
SUBSCRIBED = """
SELECT tenant_id, endpoint_id, url, event_types FROM webhook_endpoints
WHERE tenant_id = ANY($1::text[]) AND enabled AND deleted_at IS NULL
"""
APPLIED = "SELECT 1 FROM webhook_endpoints WHERE tenant_id = $1 AND endpoint_id = $2 AND event_id = $3"
REDELIVERY_APPLIED = """
SELECT 1 FROM webhook_deliveries WHERE tenant_id = $1 AND webhook_id = $2 AND redelivery_event_id = $3
"""


@dataclass(frozen=True, slots=True)
class Endpoint:
    endpoint_id: str
    url: str
    event_types: list[str]
    description: str | None
    enabled: bool
    disabled_reason: str | None
    secret: str  # sealed
    created_at: datetime
    updated_at: datetime


async def apply(conn: asyncpg.Connection, r: WebhookEndpointChanged) -> None:
    deleted = r.occurred_at if r.action == DELETED else None
    await conn.execute(
        UPSERT, r.tenant_id, r.endpoint_id, r.url, list(r.event_types), r.description, r.enabled,
        r.disabled_reason, r.secret, r.event_id, r.occurred_at, deleted,
    )  # fmt: skip
    if r.enabled and r.action != DELETED:
        await conn.execute(RESET_HEALTH, r.tenant_id, r.endpoint_id)


async def redeliver(conn: asyncpg.Connection, r: WebhookRedeliveryRequested) -> None:
    await conn.execute(REDELIVER, r.tenant_id, r.endpoint_id, r.delivery_id, r.occurred_at, r.event_id)


async def find(db: asyncpg.Pool | asyncpg.Connection, tenant_id: str, endpoint_id: str) -> Endpoint | None:
    row = await db.fetchrow(FIND, tenant_id, endpoint_id)
    return None if row is None else Endpoint(**dict(row))


async def all_of(db: asyncpg.Pool | asyncpg.Connection, tenant_id: str) -> list[Endpoint]:
    return [Endpoint(**dict(r)) for r in await db.fetch(LIST, tenant_id)]


async def subscribed(conn: asyncpg.Connection, tenant_ids: list[str]) -> list[dict[str, Any]]:
    """The enabled endpoints of these tenants, with the event types each wants."""
    return [dict(r) for r in await conn.fetch(SUBSCRIBED, tenant_ids)]
