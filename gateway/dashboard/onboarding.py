"""The home page's checklist, from facts rather than clicks: each step is done when the data says so."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from pipeline.assistants.allowlist import entry_for, origin_allowed
from projections.chat import assistants, sightings

# The origins the tenant's conversations came from, with how many and the first time.
ORIGINS = """
SELECT origin, count(*) AS conversations, min(started_at) AS first_at FROM conversations
WHERE tenant_id = $1 GROUP BY origin ORDER BY min(started_at)
"""


@dataclass(frozen=True, slots=True)
class Step:
    key: str
    title: str
    done: bool
    detail: str  # what the facts say, or what to do next
    href: str


@dataclass(frozen=True, slots=True)
class Unlisted:
    """A page that loaded an agent's widget from an origin its allowlist does not name."""

    agent_id: str
    agent_name: str
    origin: str
    entry: str  # the allowlist entry that would let that origin in
    domains: tuple[str, ...]  # the agent's allowlist now, to which the entry may be added


@dataclass(frozen=True, slots=True)
class Facts:
    agents: int
    first_agent_id: str | None
    domains: tuple[str, ...]  # every allowlist entry of every agent
    own_origin: str  # where the dashboard (and the hosted chat page) is served from
    conversation_origins: tuple[str, ...]  # where the tenant's conversations came from, oldest first
    seen: tuple[str, ...] = ()  # other sites whose pages loaded a widget and were let in
    unlisted: tuple[Unlisted, ...] = ()  # other sites whose pages loaded a widget and were refused


def steps(f: Facts) -> list[Step]:
    """The five steps from sign-up to a live assistant, each done by a fact."""
    agent = f"/dashboard/agents/{f.first_agent_id}" if f.first_agent_id else "/dashboard/agents/new"
    tested = f.own_origin in f.conversation_origins
    live = [o for o in f.conversation_origins if o and o != f.own_origin]
    seen = list(f.seen) or live
    return [
        Step("agent", "Create an agent from a template", f.agents > 0,
             f"{f.agents} agent{'s' if f.agents != 1 else ''}" if f.agents else "Start from support, sales or onboarding.",
             "/dashboard/agents/new" if not f.agents else "/dashboard/agents"),
        Step("test", "Test it in the dashboard", tested,
             "A test conversation took place." if tested else "Send it a message from its page.", agent),
        Step("domain", "Add your site's domain", bool(f.domains),
             ", ".join(f.domains) if f.domains else "Only the sites you list may embed the widget.", agent),
        Step("snippet", "Paste the snippet on your site", bool(seen),
             f"Seen on {seen[0]} ✓" if seen else "One script tag before </body>.", agent),
        Step("live", "Your first conversation from your live site", bool(live),
             f"{live[0]}" if live else "It shows here as soon as a visitor says hello.", "/dashboard/conversations"),
    ]  # fmt: skip


async def facts(pool: asyncpg.Pool, tenant_id: str, own_origin: str) -> Facts:
    agents = await assistants.listing(pool, tenant_id)
    domains = tuple(d for a in agents for d in a.assistant.allowed_domains)
    origins: Sequence[asyncpg.Record] = await pool.fetch(ORIGINS, tenant_id)
    seen: list[str] = []
    unlisted: list[Unlisted] = []
    for stored in agents:
        a = stored.assistant
        for s in await sightings.listing(pool, tenant_id, a.agent_id):
            if s.origin in (own_origin, "null"):
                continue  # the dashboard's own test chat and hosted page; an opaque origin says nothing
            if origin_allowed(s.origin, a.allowed_domains):
                if s.allowed and s.origin not in seen:
                    seen.append(s.origin)
            elif (entry := entry_for(s.origin)) is not None:
                unlisted.append(Unlisted(a.agent_id, a.name, s.origin, entry, a.allowed_domains))
    return Facts(
        agents=len(agents),
        first_agent_id=agents[0].assistant.agent_id if agents else None,
        domains=domains,
        own_origin=own_origin,
        conversation_origins=tuple(r["origin"] or "" for r in origins),
        seen=tuple(seen),
        unlisted=tuple(unlisted),
    )
