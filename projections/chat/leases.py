"""Conversation leases in PostgreSQL, shared by every gateway process (the contract: pipeline/chat/leases.py).

A holder claims a conversation when it starts or loads it, renews its leases while it holds them and
moves `last_seq` forward before it publishes each message. A lease that lapses (its holder died or let
it go) may be claimed by another process, which goes on after `last_seq`; the old holder's next
`reserve` then fails, so two processes never give two messages one seq.
"""

from __future__ import annotations

from collections.abc import Iterable

import asyncpg

from pipeline.chat.leases import Key

CLAIM = """
INSERT INTO chat_leases AS l (tenant_id, conversation_id, holder, expires_at)
VALUES ($1, $2, $3, clock_timestamp() + make_interval(secs => $4))
ON CONFLICT (tenant_id, conversation_id) DO UPDATE
SET holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at
WHERE l.holder = EXCLUDED.holder OR l.expires_at < clock_timestamp()
RETURNING l.last_seq
"""
RESERVE = """
UPDATE chat_leases SET last_seq = $4, expires_at = clock_timestamp() + make_interval(secs => $5)
WHERE tenant_id = $1 AND conversation_id = $2 AND holder = $3 AND last_seq < $4
"""
RENEW = """
UPDATE chat_leases l SET expires_at = clock_timestamp() + make_interval(secs => $4)
FROM unnest($2::text[], $3::text[]) AS k(tenant_id, conversation_id)
WHERE l.tenant_id = k.tenant_id AND l.conversation_id = k.conversation_id AND l.holder = $1
  AND l.expires_at > clock_timestamp()
RETURNING l.tenant_id, l.conversation_id
"""
# A lease that numbered nothing goes; the others lapse and keep last_seq for the next holder.
DROP_UNUSED = """
DELETE FROM chat_leases l USING unnest($2::text[], $3::text[]) AS k(tenant_id, conversation_id)
WHERE l.tenant_id = k.tenant_id AND l.conversation_id = k.conversation_id AND l.holder = $1
  AND l.last_seq = 0
"""
RELEASE = """
UPDATE chat_leases l SET expires_at = clock_timestamp()
FROM unnest($2::text[], $3::text[]) AS k(tenant_id, conversation_id)
WHERE l.tenant_id = k.tenant_id AND l.conversation_id = k.conversation_id AND l.holder = $1
"""


class PostgresLeases:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def claim(self, key: Key, holder: str, seconds: float) -> int | None:
        last: int | None = await self._pool.fetchval(CLAIM, *key, holder, seconds)
        return last

    async def reserve(self, key: Key, holder: str, seq: int, seconds: float) -> bool:
        status: str = await self._pool.execute(RESERVE, *key, holder, seq, seconds)
        return status == "UPDATE 1"

    async def renew(self, holder: str, keys: Iterable[Key], seconds: float) -> set[Key]:
        tenants, conversations = _columns(keys)
        if not tenants:
            return set()
        rows = await self._pool.fetch(RENEW, holder, tenants, conversations, seconds)
        return {(r["tenant_id"], r["conversation_id"]) for r in rows}

    async def release(self, holder: str, keys: Iterable[Key]) -> None:
        tenants, conversations = _columns(keys)
        if not tenants:
            return
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(DROP_UNUSED, holder, tenants, conversations)
            await conn.execute(RELEASE, holder, tenants, conversations)


def _columns(keys: Iterable[Key]) -> tuple[list[str], list[str]]:
    pairs = list(keys)
    return [t for t, _ in pairs], [c for _, c in pairs]
