"""The retry state of one batch, kept by the engine: what to send next and when."""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Sequence

from revos_sdk._delivery.backoff import Backoff
from revos_sdk._delivery.batch import Batch, Pending
from revos_sdk._delivery.ledger import Ledger
from revos_sdk._errors import DeliveryError, is_retryable
from revos_sdk._transports.base import EventResult

log = logging.getLogger("revos_sdk")


class Delivery:
    """Drives one batch to resolution: splits on 413, retries transient failures, fails the rest."""

    def __init__(self, batch: Batch, backoff: Backoff, ledger: Ledger, retry_deadline: float | None) -> None:
        self._todo: deque[Batch] = deque([batch])
        self._backoff = backoff
        self._ledger = ledger
        # None means retry forever (a spool exists, so giving up would lose what the spool promised).
        self._retry_deadline = retry_deadline
        self._attempt = 0
        self._first_failure: float | None = None

    def next(self) -> Batch | None:
        """The batch to send now, or None when every event is resolved."""
        return self._todo[0] if self._todo else None

    def remaining(self) -> list[Pending]:
        """Every event not yet resolved (to save or drop when time runs out)."""
        return [item for batch in self._todo for item in batch.items]

    def succeeded(self, results: Sequence[EventResult]) -> float | None:
        """Apply the answer to the current batch; returns a delay if some events must be resent."""
        current = self._todo.popleft()
        remainder = self._ledger.resolve(current, results)
        if remainder is None:
            self._attempt, self._first_failure = 0, None
            return None
        self._todo.appendleft(remainder)
        return self._retry(DeliveryError("results missing for some events", code="incomplete_results"))

    def failed(self, error: DeliveryError) -> float | None:
        """Classify a whole-request failure; returns the delay before resending, or None to move on."""
        current = self._todo[0]
        if error.status == 413 and len(current) > 1:
            self._todo.popleft()
            self._todo.extendleft(reversed(current.split()))
            return None
        if not is_retryable(error):
            self._ledger.fail(self._todo.popleft(), error)
            return None
        return self._retry(error)

    def _retry(self, error: DeliveryError) -> float | None:
        now = time.monotonic()
        self._first_failure = self._first_failure or now
        if self._retry_deadline is not None and now - self._first_failure > self._retry_deadline:
            self._ledger.fail(self._todo.popleft(), error)
            return None
        self._attempt += 1
        delay = self._backoff.delay(self._attempt, error.retry_after)
        current = self._todo[0]
        self._ledger.stats.add("retried", len(current))
        level = logging.WARNING if self._attempt == 1 else logging.DEBUG
        log.log(
            level,
            "delivery of %d event(s) failed (%s); retry %d in %.2fs",
            len(current),
            error,
            self._attempt,
            delay,
        )
        return delay


def unexpected(exc: Exception) -> DeliveryError:
    """A transport that broke its contract: log it and treat it as retryable (resending is safe)."""
    log.exception("the transport raised an unexpected error; treating it as retryable")
    return DeliveryError(f"{type(exc).__name__}: {exc}", code="transport_bug")
