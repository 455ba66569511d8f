"""The front half shared by Revos and AsyncRevos: validation, ids, overflow policy, write-ahead spooling."""

from __future__ import annotations

import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from typing import Any

from revos_sdk._client.meter import CustomerSpec, PropertiesSpec, QuantitySpec, meter
from revos_sdk._config import Config
from revos_sdk._delivery.batch import BatchPolicy, Pending
from revos_sdk._delivery.ledger import ErrorCallback, Ledger
from revos_sdk._delivery.spool import Spool
from revos_sdk._delivery.stats import Stats
from revos_sdk._errors import InvalidEvent
from revos_sdk._event import IdFactory, PropertyValue, Quantity, Timestamp, encode_event

log = logging.getLogger("revos_sdk")

# At most one "queue full" or "spool failing" warning per this many seconds; every event is still counted.
_COMPLAINT_INTERVAL = 10.0


class ClientCore(ABC):
    """`track()`, `meter()` and `stats()` over an abstract bounded queue drained by a background batcher."""

    config: Config
    _closed: bool

    def _init_core(self, config: Config, on_error: ErrorCallback | None) -> None:
        self.config = config
        self._on_error = on_error
        self._max_event_bytes = BatchPolicy(max_bytes=config.max_batch_bytes).max_event_bytes
        self._spool = (
            Spool(config.spool_dir, config.spool_segment_events, config.spool_fsync_interval)
            if config.spool_dir is not None
            else None
        )
        self._stats = Stats()

    def _reset_core(self) -> None:
        """Per-process state: called at construction and again in a forked child."""
        self._ids = IdFactory()
        self._ledger = Ledger(self._stats, self._on_error, self._spool)
        self._last_complaint = 0.0

    def _after_fork_in_child(self) -> None:
        # The parent keeps and delivers everything queued before the fork; the child starts empty.
        if self._spool is not None:
            self._spool.reset_after_fork()
        self._stats.reset_after_fork()
        closed = self._closed
        self._init_process_state()
        self._closed = closed

    # -- what a concrete client provides -----------------------------------------------------------

    @abstractmethod
    def _init_process_state(self) -> None:
        """Fresh per-process state: `_reset_core()`, an empty queue, no batcher yet, not closed."""

    @abstractmethod
    def _ensure_started(self) -> None:
        """Start the background batcher if it is not running."""

    @abstractmethod
    def _qsize(self) -> int:
        """Events currently queued in memory."""

    @abstractmethod
    def _offer(self, item: Pending, wait: bool) -> bool:
        """Queue `item` if there is room (waiting per the overflow policy when `wait`); False if full."""

    @abstractmethod
    def _put(self, item: Pending) -> None:
        """Queue `item` regardless of the bound."""

    # -- metering ----------------------------------------------------------------------------------

    def track(
        self,
        customer: str,
        type: str,
        quantity: Quantity = 1,
        properties: Mapping[str, PropertyValue] | None = None,
        timestamp: Timestamp | None = None,
        id: str | None = None,
    ) -> str:
        """Validate and enqueue one usage event; returns its id. Raises InvalidEvent (a ValueError) only."""
        event_id = self._ids() if id is None else id
        payload = encode_event(event_id, customer, type, quantity, properties, timestamp)
        if len(payload) > self._max_event_bytes:
            raise InvalidEvent(f"event is {len(payload)} bytes encoded; the limit is {self._max_event_bytes}")
        item = Pending(event_id, payload)
        if self._closed:
            log.warning("track() after close(): event %s dropped", event_id)
            self._ledger.drop([item], "the client is closed")
            return event_id
        self._ensure_started()
        if self._spool is None or not self._spool_write(item):
            self._enqueue(item)
        return event_id

    def _enqueue(self, item: Pending) -> None:
        if self._offer(item, wait=self.config.overflow == "block"):
            self._stats.add("enqueued")
            return
        self._complain(
            "queue full (%d events): dropping events; see stats()['dropped']", self.config.max_queue_size
        )
        self._ledger.drop([item], "the queue is full")

    def _spool_write(self, item: Pending) -> bool:
        """Write-ahead `item` to the spool and queue it unless the queue is full; False if the disk failed."""
        assert self._spool is not None
        size, limit = self._qsize(), self.config.max_queue_size
        # Hysteresis: once spilling, stay on disk until the queue has drained to half.
        in_memory = size < limit and not (self._spool.spilling and size > limit // 2)
        try:
            segment = self._spool.append(item.payload, memory_backed=in_memory)
        except OSError:
            self._complain(
                "cannot write to the spool %s; keeping events in memory only", self._spool.directory
            )
            return False
        if in_memory:
            # Unconditional put: the segment now promises this event is also in memory.
            self._put(item._replace(segment=segment))
        else:
            self._stats.add("spooled")
        self._stats.add("enqueued")
        return True

    def _complain(self, message: str, *args: object) -> None:
        now = time.monotonic()
        if now - self._last_complaint > _COMPLAINT_INTERVAL:
            self._last_complaint = now
            log.warning(message, *args)

    def meter(
        self,
        type: str,
        customer: CustomerSpec,
        quantity: QuantitySpec = 1,
        properties: PropertiesSpec = None,
    ) -> Callable[[Any], Any]:
        """Decorator: track one `type` event per return; `customer` etc. receive the return value."""
        return meter(self, type, customer, quantity, properties)

    def _count_invalid(self) -> None:
        self._stats.add("invalid")

    def stats(self) -> dict[str, int]:
        """Counters since start (or fork): enqueued, sent, retried, rejected, failed, dropped, spooled, ..."""
        snapshot = self._stats.snapshot()
        snapshot["queued"] = self._qsize()
        return snapshot
