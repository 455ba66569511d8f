"""`Revos`: the thread-based client. `track()` only validates and enqueues; a batcher thread delivers."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from datetime import datetime
from types import TracebackType
from typing import Self, Unpack

from revos_sdk._client import lifecycle
from revos_sdk._client.api import (
    Balance,
    BurnRule,
    BurnTableVersion,
    Grant,
    Money,
    SyncApi,
    balance_call,
    burn_table_call,
    grant_call,
    require_api_key,
)
from revos_sdk._client.core import ClientCore
from revos_sdk._config import Config, Options
from revos_sdk._delivery.batch import Pending
from revos_sdk._delivery.intake import BoundedQueue, Flush
from revos_sdk._delivery.ledger import ErrorCallback
from revos_sdk._delivery.thread import Batcher
from revos_sdk._transports.base import Transport
from revos_sdk._transports.factory import sync_factory

log = logging.getLogger("revos_sdk")


class Revos(ClientCore):
    """Meter usage from any thread: `track()` returns an event id in microseconds and never does I/O.

    With `spool_dir`, `track()` also appends the event to a write-ahead file so it survives a crash.
    With `kafka_bootstrap` (and `tenant_id`), the batcher thread produces to Kafka instead of calling the
    gateway, with aiokafka on its own event loop.
    """

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        *,
        on_error: ErrorCallback | None = None,
        transport_factory: Callable[[Config], Transport] | None = None,
        **options: Unpack[Options],
    ) -> None:
        config = Config.from_env(api_key, base_url, **options)
        self._transport_factory: Callable[[Config], Transport] = transport_factory or sync_factory(config)
        self._init_core(config, on_error)
        self._init_process_state()
        lifecycle.register(self)
        if self._spool is not None:
            # Start now so events spooled by earlier processes are delivered even if this one tracks nothing.
            self._start()

    def _init_process_state(self) -> None:
        self._reset_core()
        self._queue = BoundedQueue(self.config.max_queue_size)
        self._lock = threading.Lock()
        self._batcher: Batcher | None = None
        self._api: SyncApi | None = None
        self._closed = False

    # -- the queue ClientCore.track() feeds ------------------------------------------------------------

    def _ensure_started(self) -> None:
        if self._batcher is None:
            self._start()

    def _qsize(self) -> int:
        return self._queue.qsize()

    def _offer(self, item: Pending, wait: bool) -> bool:
        return self._queue.offer(item) or (wait and self._queue.offer_wait(item, self.config.block_timeout))

    def _put(self, item: Pending) -> None:
        self._queue.put(item)

    # -- lifecycle ---------------------------------------------------------------------------------

    def _start(self) -> None:
        with self._lock:
            if self._batcher is None and not self._closed:
                batcher = Batcher(
                    self.config, self._queue, self._transport_factory(self.config), self._ledger, self._spool
                )
                batcher.start()
                self._batcher = batcher

    def flush(self, timeout: float | None = None) -> bool:
        """Block until everything tracked before this call is resolved; False if `timeout` passed first."""
        batcher = self._batcher
        if batcher is None or not batcher.is_alive():
            return self._queue.qsize() == 0
        marker = Flush()
        self._queue.control(marker)
        return marker.done.wait(timeout) and marker.delivered

    def close(self, timeout: float | None = None) -> None:
        """Deliver what is queued (for at most `timeout`, default `exit_timeout`), then stop. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            batcher = self._batcher
        lifecycle.unregister(self)
        limit = self.config.exit_timeout if timeout is None else timeout
        if batcher is not None and batcher.is_alive():
            batcher.request_close(limit)
            # The grace covers a request already in flight when the deadline passed.
            batcher.join(limit + 1.0)
            if batcher.is_alive():
                self._give_up_on_stuck_batcher(batcher)
                return
        if self._spool is not None:
            self._spool.close()
        if self._api is not None:
            self._api.close()

    def _give_up_on_stuck_batcher(self, batcher: Batcher) -> None:
        leftovers = [item for item in self._queue.drain() if isinstance(item, Pending)]
        log.error(
            "close() timed out with a request in flight (%d event(s), fate unknown); %d queued event(s) %s",
            batcher.in_flight,
            len(leftovers),
            "remain in the spool" if self._spool is not None else "dropped",
        )
        if self._spool is None:
            self._ledger.drop(leftovers, "not delivered before the close time limit")

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _atexit(self) -> None:
        self.close(self.config.exit_timeout)

    # -- API helpers (synchronous, they raise ApiError) --------------------------------------------

    def _client(self) -> SyncApi:
        with self._lock:
            if self._api is None:
                require_api_key(self.config)
                self._api = SyncApi(self.config)
            return self._api

    def grant_credits(
        self,
        customer: str,
        amount: Money,
        *,
        id: str | None = None,
        priority: int | None = None,
        effective_at: datetime | str | None = None,
        expires_at: datetime | str | None = None,
        reason: str | None = None,
    ) -> Grant:
        """Grant `amount` credits (a Decimal, never a float) to `customer`."""
        call = grant_call(
            customer,
            amount,
            id=id,
            priority=priority,
            effective_at=effective_at,
            expires_at=expires_at,
            reason=reason,
        )
        result: Grant = self._client().run(call)
        return result

    def get_balance(self, customer: str) -> Balance:
        """The customer's current balance and grants."""
        result: Balance = self._client().run(balance_call(customer))
        return result

    def publish_burn_table(
        self, name: str, rules: Sequence[BurnRule], effective_at: datetime | str | None = None
    ) -> BurnTableVersion:
        """Publish a new version of burn table `name`."""
        result: BurnTableVersion = self._client().run(burn_table_call(name, rules, effective_at))
        return result
