"""Widget sightings: the page origins an agent's widget asked for a session from, allowed or refused.

A sighting is operational telemetry, not a record on the log: one gateway process tallies the session
requests it sees (`Tally`) and writes each (agent, origin) at most once every `WRITE_EVERY` seconds, its
counts added up since the last write (the store: projections/chat/sightings.py). An agent keeps at most
`MAX_ORIGINS` origins, so forged `Origin` headers cannot grow the store without bound.

Pure: the clock is a parameter, so the tests drive time by hand.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Protocol

MAX_ORIGINS = 100  # per agent, in the store and in one process's tally
WRITE_EVERY = 60.0  # seconds between two writes of one (agent, origin) by one process
MAX_ORIGIN_LENGTH = 300  # a host name is at most 253 characters: anything longer is no browser's origin
MAX_KEYS = 100_000  # (agent, origin) pairs one process tallies at once, whatever the agents

Key = tuple[str, str, str]  # tenant_id, agent_id, origin


@dataclass(frozen=True, slots=True)
class Sighting:
    """Session requests of one agent from one origin: `sessions` in all, `refused` of them refused;
    `allowed` is the decision on the last one."""

    tenant_id: str
    agent_id: str
    origin: str
    allowed: bool
    first_seen: datetime
    last_seen: datetime
    sessions: int
    refused: int

    @property
    def key(self) -> Key:
        return self.tenant_id, self.agent_id, self.origin

    def merged(self, other: Sighting) -> Sighting:
        """Both tallies of one key as one: counts added, `allowed` from the later."""
        later = other if other.last_seen >= self.last_seen else self
        return replace(
            self,
            allowed=later.allowed,
            first_seen=min(self.first_seen, other.first_seen),
            last_seen=later.last_seen,
            sessions=self.sessions + other.sessions,
            refused=self.refused + other.refused,
        )


def recordable(origin: str) -> bool:
    """Whether an Origin header is worth a sighting: printable ASCII without spaces, of an origin's
    length. (`null`, sent by sandboxed frames and local files, is one.)"""
    return (
        0 < len(origin) <= MAX_ORIGIN_LENGTH
        and origin.isascii()
        and origin.isprintable()
        and " " not in origin
    )


def seen(tenant_id: str, agent_id: str, origin: str, allowed: bool, at: datetime) -> Sighting:
    """One session request as a sighting."""
    return Sighting(tenant_id, agent_id, origin, allowed, at, at, 1, 0 if allowed else 1)


class SightingStore(Protocol):
    """Where sightings are kept, shared by every gateway process."""

    async def record(self, sighting: Sighting) -> bool:
        """Add a tally to its origin's sighting; False when the origin is new and its agent already
        has `MAX_ORIGINS` others (nothing is stored)."""
        ...

    async def listing(self, tenant_id: str, agent_id: str) -> list[Sighting]:
        """The agent's sightings, the most recently seen first."""
        ...


def newest_first(sightings: list[Sighting]) -> list[Sighting]:
    return sorted(sightings, key=lambda s: (-s.last_seen.timestamp(), s.origin))


class MemorySightings:
    """The store in one process: for tests."""

    def __init__(self, max_origins: int = MAX_ORIGINS) -> None:
        self._max = max_origins
        self._rows: dict[Key, Sighting] = {}

    async def record(self, sighting: Sighting) -> bool:
        found = self._rows.get(sighting.key)
        if found is not None:
            self._rows[sighting.key] = found.merged(sighting)
            return True
        agent = sighting.key[:2]
        if sum(1 for k in self._rows if k[:2] == agent) >= self._max:
            return False
        self._rows[sighting.key] = sighting
        return True

    async def listing(self, tenant_id: str, agent_id: str) -> list[Sighting]:
        return newest_first([s for k, s in self._rows.items() if k[:2] == (tenant_id, agent_id)])


class Tally:
    """The sightings one process saw and has not written yet.

    A key is due when this process has not written it in the last `every` seconds, or when the decision
    changed since its last write (the allowlist let in an origin it refused, or the reverse: a person
    waiting for that to show should not wait a minute); its counts wait until then and go in one write, so counts are exact unless the process dies with a tally unwritten
    (at most `every` seconds of it) or a cap drops a sighting. The caps bound memory and the store's
    load whatever the Origin headers: an agent holds at most `max_origins` keys here (pending, or
    written within `every`), the process at most `max_keys`; a new origin past either cap is dropped.
    """

    def __init__(
        self,
        *,
        every: float = WRITE_EVERY,
        max_origins: int = MAX_ORIGINS,
        max_keys: int = MAX_KEYS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._every = every
        self._max_origins = max_origins
        self._max_keys = max_keys
        self._clock = clock
        self._pending: dict[Key, Sighting] = {}
        self._written: dict[Key, float] = {}  # when this process last wrote each key, oldest first
        self._decided: dict[Key, bool] = {}  # the `allowed` of each written key's last write
        self._per_agent: dict[tuple[str, str], int] = {}  # keys held (pending or written) per agent
        self._held = 0
        self.dropped = 0  # sightings a cap left out

    def saw(self, sighting: Sighting) -> bool:
        """Count a sighting; True when its key is due at once (nothing written for it lately, or the
        decision changed since)."""
        key = sighting.key
        decided = self._decided.get(key)  # None after a failed write: then it waits, changed or not
        if key in self._written and decided is not None and decided is not sighting.allowed:
            # Due at once. The key stays held: by its pending tally from here on, not its write time.
            del self._written[key]
            del self._decided[key]
            pending = self._pending.get(key)
            self._pending[key] = sighting if pending is None else pending.merged(sighting)
            return True
        pending = self._pending.get(key)
        if pending is not None:
            self._pending[key] = pending.merged(sighting)
        else:
            if key not in self._written and not self._room(key[:2]):
                self.dropped += 1
                return False
            self._hold(key)
            self._pending[key] = sighting
        return self._is_due(key)

    def due(self) -> list[Sighting]:
        """The tallies to write now, taken out of the tally (their keys marked written now)."""
        self._forget_written()
        now = self._clock()
        taken = [s for k, s in self._pending.items() if k not in self._written]
        for s in taken:
            del self._pending[s.key]
            self._written[s.key] = now
            self._decided[s.key] = s.allowed
        return taken

    def everything(self) -> list[Sighting]:
        """Every tally, due or not (for a process about to stop)."""
        taken = list(self._pending.values())
        for s in taken:
            del self._pending[s.key]
            self._release(s.key)
        return taken

    def retry(self, sighting: Sighting) -> None:
        """Put back a tally whose write failed: it goes with the key's next write, `every` from now."""
        key = sighting.key
        self._hold(key)
        pending = self._pending.get(key)
        self._pending[key] = sighting if pending is None else sighting.merged(pending)
        self._written.pop(key, None)  # re-inserted: the dict stays in time order
        self._written[key] = self._clock()
        self._decided.pop(key, None)

    def __len__(self) -> int:
        """Tallies not yet written."""
        return len(self._pending)

    def _is_due(self, key: Key) -> bool:
        written = self._written.get(key)
        return written is None or self._clock() - written >= self._every

    def _room(self, agent: tuple[str, str]) -> bool:
        """Whether a new key of `agent` may be held, once write times that lapsed are forgotten."""
        full = self._per_agent.get(agent, 0) >= self._max_origins or self._held >= self._max_keys
        if full:
            self._forget_written()
            full = self._per_agent.get(agent, 0) >= self._max_origins or self._held >= self._max_keys
        return not full

    def _forget_written(self) -> None:
        """Drop the write times that no longer hold a key back (the oldest first: cheap when few have)."""
        now = self._clock()
        while self._written:
            key, at = next(iter(self._written.items()))
            if now - at < self._every:
                break
            del self._written[key]
            self._release(key)

    def _hold(self, key: Key) -> None:
        if key not in self._pending and key not in self._written:
            agent = key[:2]
            self._per_agent[agent] = self._per_agent.get(agent, 0) + 1
            self._held += 1

    def _release(self, key: Key) -> None:
        """`key` left pending or written: it is no longer held once it is in neither."""
        if key in self._pending or key in self._written:
            return
        self._decided.pop(key, None)
        agent = key[:2]
        left = self._per_agent[agent] - 1
        if left:
            self._per_agent[agent] = left
        else:
            del self._per_agent[agent]
        self._held -= 1
