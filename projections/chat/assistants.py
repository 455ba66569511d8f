"""Assistants: the writer fed by AssistantChanged records, and the lookups the gateway needs."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass
from datetime import datetime

import asyncpg

from pipeline.assistants.model import Assistant
from pipeline.assistants.tool_secrets import SecretBox, context
from pipeline.records import AssistantBranding, AssistantChanged, AssistantTool, AssistantVoice

# Records of one tenant share a partition, so the log's order is the order of the writes (gateway clocks
# may disagree; the log does not). A delete hides the row for good, keeping its last configuration for
# the conversations that name it.
UPSERT = """
INSERT INTO assistants (tenant_id, agent_id, name, system_prompt, model, fallback_models, temperature,
                        tools, allowed_domains, branding, customer, template, event_id, created_at,
                        updated_at, deleted_at, voice)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $14,
        CASE WHEN $15 THEN $14::timestamptz END, $16)
ON CONFLICT (tenant_id, agent_id) DO UPDATE SET
    name = EXCLUDED.name, system_prompt = EXCLUDED.system_prompt, model = EXCLUDED.model,
    fallback_models = EXCLUDED.fallback_models, temperature = EXCLUDED.temperature,
    tools = EXCLUDED.tools, allowed_domains = EXCLUDED.allowed_domains, branding = EXCLUDED.branding,
    customer = EXCLUDED.customer, template = EXCLUDED.template, event_id = EXCLUDED.event_id,
    updated_at = EXCLUDED.updated_at, voice = EXCLUDED.voice,
    deleted_at = COALESCE(assistants.deleted_at, EXCLUDED.deleted_at)
"""

_COLUMNS = """
tenant_id, agent_id, name, system_prompt, model, fallback_models, temperature, tools, allowed_domains,
branding, customer, template, event_id, created_at, updated_at, deleted_at, voice
"""
FIND = f"SELECT {_COLUMNS} FROM assistants WHERE tenant_id = $1 AND agent_id = $2 AND deleted_at IS NULL"
FIND_PUBLIC = f"SELECT {_COLUMNS} FROM assistants WHERE agent_id = $1 AND deleted_at IS NULL"
# A phone number's agent, whichever tenant it belongs to (a number belongs to at most one agent).
BY_PHONE_NUMBER = f"""
SELECT {_COLUMNS} FROM assistants WHERE phone_number = $1 AND deleted_at IS NULL
ORDER BY created_at LIMIT 1
"""
LIST = f"""
SELECT {_COLUMNS} FROM assistants WHERE tenant_id = $1 AND deleted_at IS NULL
ORDER BY created_at, agent_id
"""
# Read-your-writes: the row shows the record's event (creates, updates and deletes alike).
APPLIED = "SELECT 1 FROM assistants WHERE tenant_id = $1 AND agent_id = $2 AND event_id = $3"


@dataclass(frozen=True, slots=True)
class Stored:
    """An assistant as the projection holds it, with the times the API shows."""

    assistant: Assistant
    event_id: str
    created_at: datetime
    updated_at: datetime


async def apply(conn: asyncpg.Connection, r: AssistantChanged) -> None:
    await conn.execute(
        UPSERT,
        r.tenant_id,
        r.agent_id,
        r.name,
        r.system_prompt,
        r.model,
        list(r.fallback_models),
        r.temperature,
        [asdict(t) for t in r.tools],
        list(r.allowed_domains),
        asdict(r.branding),
        r.customer,
        r.template,
        r.event_id,
        r.occurred_at,
        r.action == "deleted",
        None if r.voice is None else asdict(r.voice),
    )


def _stored(row: asyncpg.Record) -> Stored:
    assistant = Assistant(
        tenant_id=row["tenant_id"],
        agent_id=row["agent_id"],
        name=row["name"],
        system_prompt=row["system_prompt"],
        model=row["model"],
        fallback_models=tuple(row["fallback_models"]),
        temperature=row["temperature"],
        tools=tuple(AssistantTool(**t) for t in row["tools"]),
        allowed_domains=tuple(row["allowed_domains"]),
        branding=AssistantBranding(**row["branding"]),
        customer=row["customer"] or None,  # "" as in the record: no billing customer
        template=row["template"],
        deleted=row["deleted_at"] is not None,
        voice=None if row["voice"] is None else AssistantVoice(**row["voice"]),
    )
    return Stored(assistant, row["event_id"], row["created_at"], row["updated_at"])


async def find(pool: asyncpg.Pool | asyncpg.Connection, tenant_id: str, agent_id: str) -> Stored | None:
    """The tenant's assistant with its times; None when absent, deleted or another tenant's."""
    row = await pool.fetchrow(FIND, tenant_id, agent_id)
    return None if row is None else _stored(row)


async def load(pool: asyncpg.Pool | asyncpg.Connection, tenant_id: str, agent_id: str) -> Assistant | None:
    """The tenant's assistant, tool secrets included; None when absent or deleted."""
    found = await find(pool, tenant_id, agent_id)
    return None if found is None else found.assistant


async def load_public(pool: asyncpg.Pool | asyncpg.Connection, agent_id: str) -> Assistant | None:
    """An assistant found by its id alone (ids are globally unique), for callers without an API key."""
    row = await pool.fetchrow(FIND_PUBLIC, agent_id)
    return None if row is None else _stored(row).assistant


async def by_phone_number(pool: asyncpg.Pool | asyncpg.Connection, phone_number: str) -> Assistant | None:
    """The agent a number calls, in whichever tenant (the gateway refuses a number already taken)."""
    row = await pool.fetchrow(BY_PHONE_NUMBER, phone_number)
    return None if row is None else _stored(row).assistant


@contextlib.asynccontextmanager
async def number_claim(pool: asyncpg.Pool, phone_number: str) -> AsyncIterator[None]:
    """Hold a number while checking it is free and writing the agent that takes it: two writes naming one
    number, in any gateway process, run one after the other (the second then sees the first's agent)."""
    async with pool.acquire() as conn:
        await conn.execute("SELECT pg_advisory_lock(hashtextextended($1, 7))", phone_number)
        try:
            yield
        finally:
            await conn.execute("SELECT pg_advisory_unlock(hashtextextended($1, 7))", phone_number)


async def listing(pool: asyncpg.Pool | asyncpg.Connection, tenant_id: str) -> list[Stored]:
    """The tenant's assistants that are not deleted, oldest first."""
    return [_stored(r) for r in await pool.fetch(LIST, tenant_id)]


# Tool secrets stored in plain text by earlier versions (a secret sealed by the gateway starts "enc:v1:").
PLAIN_SECRETS = """
SELECT tenant_id, agent_id, event_id, tools FROM assistants
WHERE EXISTS (SELECT 1 FROM jsonb_array_elements(tools) t WHERE t->>'secret' NOT LIKE 'enc:v1:%')
"""
# Only if the row has not changed since it was read: a newer write is already sealed.
RESEAL = "UPDATE assistants SET tools = $3 WHERE tenant_id = $1 AND agent_id = $2 AND event_id = $4"


async def seal_plain_secrets(pool: asyncpg.Pool, box: SecretBox) -> int:
    """Seal the tool secrets earlier versions stored in plain text; how many assistants were sealed.

    The records on the log that carried them stay as they were (a projection rebuilt from them would
    hold them in plain text until this runs again: every start does)."""
    sealed = 0
    for row in await pool.fetch(PLAIN_SECRETS):
        where = context(row["tenant_id"], row["agent_id"])
        tools = [{**t, "secret": box.seal(t["secret"], where)} for t in row["tools"]]
        status = await pool.execute(RESEAL, row["tenant_id"], row["agent_id"], tools, row["event_id"])
        sealed += status == "UPDATE 1"
    return sealed
