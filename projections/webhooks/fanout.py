"""Queue one delivery per enabled endpoint that subscribes to a fact's event type, in the transaction of
the writer that applies the fact. The delivery's id derives from the endpoint and the fact, so a record
applied again queues nothing new."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from pipeline.webhooks.deliveries import payload, webhook_id
from projections.voice.webhook_deliveries import ENQUEUE_FOR_ENDPOINT
from projections.webhooks.endpoints import subscribed


@dataclass(frozen=True, slots=True)
class Fact:
    """Something a tenant's endpoints may want to hear of: `fact_id` is stable for the fact."""

    tenant_id: str
    event_type: str
    fact_id: str
    at: datetime
    data: Mapping[str, Any]


async def enqueue(conn: asyncpg.Connection, facts: Sequence[Fact]) -> int:
    """Queue each fact for every endpoint that wants it; how many deliveries were asked for."""
    if not facts:
        return 0
    endpoints = await subscribed(conn, sorted({f.tenant_id for f in facts}))
    rows = [
        (
            f.tenant_id,
            webhook_id(f.tenant_id, e["endpoint_id"], f.event_type, f.fact_id),
            e["endpoint_id"],
            e["url"],
            f.event_type,
            payload(f.event_type, f.at, f.data),
        )
        for f in facts
        for e in endpoints
        if e["tenant_id"] == f.tenant_id and f.event_type in e["event_types"]
    ]
    if rows:
        await conn.executemany(ENQUEUE_FOR_ENDPOINT, rows)
    return len(rows)
