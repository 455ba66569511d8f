"""What happens to events once their fate is known: counters, spool acknowledgements, `on_error`."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable, Sequence

from revos_sdk._delivery.batch import Batch, Pending
from revos_sdk._delivery.spool import Spool
from revos_sdk._delivery.stats import Stats
from revos_sdk._errors import EventDropped, EventRejected, RevosError
from revos_sdk._event import Event
from revos_sdk._transports.base import EventResult

log = logging.getLogger("revos_sdk")

ErrorCallback = Callable[[list[Event], RevosError], None]


class Ledger:
    """Resolves events exactly once each: accepted, rejected, failed or dropped."""

    def __init__(self, stats: Stats, on_error: ErrorCallback | None, spool: Spool | None) -> None:
        self.stats = stats
        self.on_error = on_error
        self.spool = spool

    def report(self, items: Sequence[Pending], error: RevosError) -> None:
        """Hand events and the reason to the user's callback; a failing callback is logged, not raised."""
        if self.on_error is None or not items:
            return
        try:
            events = [Event.from_payload(item.payload) for item in items]
            self.on_error(events, error)
        except Exception:
            log.exception("the on_error callback raised; continuing")

    def _ack(self, items: Iterable[Pending]) -> None:
        if self.spool is None:
            return
        for segment, n in Counter(item.segment for item in items if item.segment is not None).items():
            self.spool.ack(segment, n)

    def resolve(self, batch: Batch, results: Sequence[EventResult]) -> Batch | None:
        """Apply per-event results; returns the events that got no result (to resend), or None."""
        by_id = {result.id: result for result in results}
        resolved: list[Pending] = []
        unresolved: list[Pending] = []
        sent = 0
        for item in batch.items:
            result = by_id.get(item.id)
            if result is None:
                unresolved.append(item)
                continue
            resolved.append(item)
            if result.accepted:
                sent += 1
            else:
                self.stats.add("rejected")
                log.warning("event %s rejected by the gateway [%s]: %s", item.id, result.code, result.message)
                self.report([item], EventRejected(item.id, result.code or "rejected", result.message or ""))
        self.stats.add("sent", sent)
        self._ack(resolved)
        if unresolved:
            log.warning("%d event(s) got no result from the gateway; resending them", len(unresolved))
            return Batch(tuple(unresolved))
        return None

    def fail(self, batch: Batch, error: RevosError) -> None:
        """Give up on a whole batch after a non-retryable error or an exhausted retry deadline."""
        log.error("giving up on %d event(s): %s", len(batch), error)
        self.stats.add("failed", len(batch))
        self.report(batch.items, error)
        self._ack(batch.items)

    def drop(self, items: Sequence[Pending], reason: str) -> None:
        """Count and report events the SDK discards locally (queue full, closed, exit time limit)."""
        self.stats.add("dropped", len(items))
        self.report(items, EventDropped(reason))
