"""The gateway process's sighting recorder: session requests are tallied in memory (`saw`, which never
waits and never raises) and one background task writes the tallies that are due to the shared store.

A session request therefore never waits for the database, and a store that fails or hangs costs only
a logged warning: the tally is kept and goes with the key's next write.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime

from pipeline.chat.sightings import Sighting, SightingStore, Tally, recordable, seen
from projections.retryable import is_retryable

log = logging.getLogger(__name__)

TICK = 1.0  # seconds between looks for tallies that came due
WRITE_TIMEOUT = 5.0  # seconds one write may take before the rest of the round waits for the next


class SightingRecorder:
    def __init__(
        self,
        store: SightingStore,
        tally: Tally | None = None,
        *,
        tick: float = TICK,
        write_timeout: float = WRITE_TIMEOUT,
    ) -> None:
        self._store = store
        self._tally = tally if tally is not None else Tally()
        self._tick = tick
        self._write_timeout = write_timeout
        self._wake = asyncio.Event()
        self._dropped = 0

    def saw(self, tenant_id: str, agent_id: str, origin: str, allowed: bool) -> None:
        """Count one session request of an agent from `origin`, allowed or refused."""
        try:
            if recordable(origin) and self._tally.saw(
                seen(tenant_id, agent_id, origin, allowed, datetime.now(UTC))
            ):
                self._wake.set()  # a first sighting is written at once, not at the next tick
        except Exception:  # telemetry: a session request never fails for it
            log.exception("counting a widget sighting failed")

    async def write_due(self) -> int:
        """Write the tallies that are due; how many were written."""
        return await self._write(self._tally.due())

    async def keep_writing(self) -> None:
        """Write tallies as they come due, until cancelled."""
        while True:
            self._wake.clear()
            try:
                await self.write_due()
            except Exception:  # a bug here must not end the task: the next round tries again
                log.exception("writing widget sightings failed")
            if self._tally.dropped > self._dropped:
                log.warning(
                    "%d widget sightings left out: too many origins at once",
                    self._tally.dropped - self._dropped,
                )
                self._dropped = self._tally.dropped
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for swallows a cancellation that lands as
            # the event is set, and the gateway's stop would then wait a whole tick for this task.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._tick):
                    await self._wake.wait()

    async def close(self, timeout: float = 2.0) -> None:
        """Write every tally, due or not, within `timeout` seconds (a process about to stop)."""
        try:
            async with asyncio.timeout(timeout):
                await self._write(self._tally.everything())
        except TimeoutError:
            log.warning("widget sightings not written before the gateway stopped")

    async def _write(self, tallies: list[Sighting]) -> int:
        written = 0
        for i, sighting in enumerate(tallies):
            try:
                async with asyncio.timeout(self._write_timeout):
                    await self._store.record(sighting)
            except Exception as exc:
                if not is_retryable(exc):  # this tally can never be written: the others still can
                    log.exception("writing a widget sighting failed; dropped: %r", sighting)
                    continue
                kept = len(tallies) - i  # the store is away or slow: keep the rest for later
                log.warning("writing widget sightings failed, %d kept for later: %r", kept, exc)
                for later in tallies[i:]:
                    self._tally.retry(later)
                break
            written += 1
        return written
