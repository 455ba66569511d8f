"""Widget sightings in PostgreSQL (the `SightingStore` of pipeline/chat/sightings.py), shared by every
gateway process: one statement adds a tally, and the read behind `GET /v1/agents/{agent_id}/sightings`.

Not a projection of the log: sightings are telemetry the gateways write as they go, like the
rate-limit buckets. A tally is added to its origin's row whatever the order the processes write in:
counts add up, `first_seen` and `last_seen` widen, and `allowed` follows the latest `last_seen`.
"""

from __future__ import annotations

import asyncpg

from pipeline.chat.sightings import MAX_ORIGINS, Sighting

# $1 tenant, $2 agent, $3 origin, $4 allowed, $5 first_seen, $6 last_seen, $7 sessions, $8 refused,
# $9 the most origins an agent keeps. A new origin goes in only while its agent has room; processes
# adding new origins of one agent at the same instant may each see the last free place, so the cap can
# be passed by as many as write at once (one writer per gateway process), never more.
RECORD = """
INSERT INTO widget_sightings AS s (tenant_id, agent_id, origin, allowed, first_seen, last_seen, sessions,
                                   refused)
SELECT $1::text, $2::text, $3::text, $4::boolean, $5::timestamptz, $6::timestamptz, $7::bigint, $8::bigint
WHERE EXISTS (SELECT 1 FROM widget_sightings WHERE tenant_id = $1 AND agent_id = $2 AND origin = $3)
   OR (SELECT count(*) FROM widget_sightings WHERE tenant_id = $1 AND agent_id = $2) < $9::int
ON CONFLICT (tenant_id, agent_id, origin) DO UPDATE SET
    allowed = CASE WHEN EXCLUDED.last_seen >= s.last_seen THEN EXCLUDED.allowed ELSE s.allowed END,
    first_seen = LEAST(s.first_seen, EXCLUDED.first_seen),
    last_seen = GREATEST(s.last_seen, EXCLUDED.last_seen),
    sessions = s.sessions + EXCLUDED.sessions,
    refused = s.refused + EXCLUDED.refused
"""
LIST = """
SELECT tenant_id, agent_id, origin, allowed, first_seen, last_seen, sessions, refused
FROM widget_sightings WHERE tenant_id = $1 AND agent_id = $2
ORDER BY last_seen DESC, origin
"""


async def listing(pool: asyncpg.Pool | asyncpg.Connection, tenant_id: str, agent_id: str) -> list[Sighting]:
    """The agent's sightings, the most recently seen first."""
    return [Sighting(**dict(row)) for row in await pool.fetch(LIST, tenant_id, agent_id)]


class PostgresSightings:
    """The `SightingStore` on PostgreSQL."""

    def __init__(self, pool: asyncpg.Pool, max_origins: int = MAX_ORIGINS) -> None:
        self._pool = pool
        self._max = max_origins

    async def record(self, sighting: Sighting) -> bool:
        s = sighting
        status: str = await self._pool.execute(
            RECORD, s.tenant_id, s.agent_id, s.origin, s.allowed, s.first_seen, s.last_seen, s.sessions,
            s.refused, self._max,
        )  # fmt: skip
        return status == "INSERT 0 1"

    async def listing(self, tenant_id: str, agent_id: str) -> list[Sighting]:
        return await listing(self._pool, tenant_id, agent_id)
