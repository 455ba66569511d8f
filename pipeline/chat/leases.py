"""The port for conversation leases, and an in-memory implementation for one process and for tests.

A lease lets one gateway process number a conversation's messages at a time (see
projections/chat/leases.py for the PostgreSQL one several processes share). Both implementations keep
the same contract, which tests/integration/test_chat_leases.py checks against each.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

Key = tuple[str, str]  # (tenant_id, conversation_id)


class Leases(Protocol):
    async def claim(self, key: Key, holder: str, seconds: float) -> int | None:
        """Take the lease (or keep it); the newest seq handed out so far, None while another holds it."""
        ...

    async def reserve(self, key: Key, holder: str, seq: int, seconds: float) -> bool:
        """Record `seq` as handed out, before its message is published; False when the lease is lost."""
        ...

    async def renew(self, holder: str, keys: Iterable[Key], seconds: float) -> set[Key]:
        """Extend the holder's live leases on `keys`; returns those it still holds."""
        ...

    async def release(self, holder: str, keys: Iterable[Key]) -> None:
        """Let the leases lapse now; their last seq stays for the next holder."""
        ...


@dataclass(slots=True)
class _Lease:
    holder: str
    last_seq: int
    expires_at: float


class MemoryLeases:
    """Leases in one process's memory: the same contract, for a single gateway and for tests."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._leases: dict[Key, _Lease] = {}

    async def claim(self, key: Key, holder: str, seconds: float) -> int | None:
        now = self._clock()
        lease = self._leases.get(key)
        if lease is None:
            lease = self._leases[key] = _Lease(holder, 0, now + seconds)
        elif lease.holder != holder and lease.expires_at >= now:
            return None
        lease.holder, lease.expires_at = holder, now + seconds
        return lease.last_seq

    async def reserve(self, key: Key, holder: str, seq: int, seconds: float) -> bool:
        lease = self._leases.get(key)
        if lease is None or lease.holder != holder or lease.last_seq >= seq:
            return False
        lease.last_seq, lease.expires_at = seq, self._clock() + seconds
        return True

    async def renew(self, holder: str, keys: Iterable[Key], seconds: float) -> set[Key]:
        now = self._clock()
        kept = set()
        for key in keys:
            lease = self._leases.get(key)
            if lease is not None and lease.holder == holder and lease.expires_at > now:
                lease.expires_at = now + seconds
                kept.add(key)
        return kept

    async def release(self, holder: str, keys: Iterable[Key]) -> None:
        now = self._clock()
        for key in keys:
            lease = self._leases.get(key)
            if lease is None or lease.holder != holder:
                continue
            if lease.last_seq == 0:  # nothing numbered: nothing for a next holder to go on from
                del self._leases[key]
            else:
                lease.expires_at = now
