"""`AsyncRevos`: the asyncio twin of Revos; a background task on the running loop delivers, no thread."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections import deque
from collections.abc import Callable, Sequence
from datetime import datetime
from types import TracebackType
from typing import Self, Unpack

from revos_sdk._client import lifecycle
from revos_sdk._client.api import (
    AsyncApi,
    Balance,
    BurnRule,
    BurnTableVersion,
    Grant,
    Money,
    balance_call,
    burn_table_call,
    grant_call,
    require_api_key,
)
from revos_sdk._client.core import ClientCore
from revos_sdk._config import Config, Options
from revos_sdk._delivery.aio import AsyncBatcher, AsyncFlush, Item
from revos_sdk._delivery.batch import Pending
from revos_sdk._delivery.intake import BoundedQueue, Close
from revos_sdk._delivery.ledger import ErrorCallback
from revos_sdk._delivery.thread import Batcher
from revos_sdk._transports.base import AsyncTransport, Transport
from revos_sdk._transports.factory import async_factory, sync_factory

log = logging.getLogger("revos_sdk")


class AsyncRevos(ClientCore):
    """Meter usage from asyncio code: `track()` is synchronous and instant; `flush()`/`close()` are awaited.

    `track()` may also be called from other threads or before a loop runs; delivery starts on the first
    call made inside a running loop. Use `async with AsyncRevos(...)` or `await close()`; at interpreter
    exit, anything left is delivered synchronously within `exit_timeout`.
    """

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        *,
        on_error: ErrorCallback | None = None,
        transport_factory: Callable[[Config], AsyncTransport] | None = None,
        **options: Unpack[Options],
    ) -> None:
        config = Config.from_env(api_key, base_url, **options)
        if config.overflow == "block":
            raise ValueError(
                "AsyncRevos never blocks the event loop: use overflow='drop', with a spool_dir for no loss"
            )
        self._transport_factory = transport_factory or async_factory(config)
        # At exit with no loop left, leftovers go out through the synchronous twin of the default transport;
        # a custom transport has no known twin.
        self._exit_transport_factory: Callable[[Config], Transport] | None = (
            None if transport_factory is not None else sync_factory(config)
        )
        self._init_core(config, on_error)
        self._init_process_state()
        lifecycle.register(self)
        if self._spool is not None:
            # Inside a running loop, start now so an earlier process's spooled events go out at once.
            self._ensure_started()

    def _init_process_state(self) -> None:
        self._reset_core()
        self._items: deque[Item] = deque()
        self._batcher: AsyncBatcher | None = None
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._api: AsyncApi | None = None
        self._closed = False

    # -- the queue ClientCore.track() feeds ------------------------------------------------------------

    def _ensure_started(self) -> None:
        task = self._task
        if task is not None and not task.done():
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # Not in a loop yet: events wait in memory until the first call from inside one.
        self._start(loop)

    def _start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop, self._loop_thread = loop, threading.get_ident()
        self._batcher = AsyncBatcher(
            self.config, self._items, self._transport_factory(self.config), self._ledger, self._spool
        )
        self._task = loop.create_task(self._batcher.run(), name="revos-sdk-batcher")

    def _qsize(self) -> int:
        return len(self._items)

    def _offer(self, item: Pending, wait: bool) -> bool:
        if len(self._items) >= self.config.max_queue_size:
            return False
        self._put(item)
        return True

    def _put(self, item: Pending | AsyncFlush | Close) -> None:
        self._items.append(item)
        batcher = self._batcher
        if batcher is not None and batcher.waiting:
            if threading.get_ident() == self._loop_thread:
                batcher.wake()
            elif self._loop is not None and not self._loop.is_closed():
                with contextlib.suppress(RuntimeError):
                    self._loop.call_soon_threadsafe(batcher.wake)

    # -- lifecycle ---------------------------------------------------------------------------------

    async def flush(self, timeout: float | None = None) -> bool:
        """Wait until everything tracked before this call is resolved; False if `timeout` passed first."""
        self._ensure_started()
        if self._batcher is None:
            return not self._items
        marker = AsyncFlush()
        self._put(marker)
        try:
            async with asyncio.timeout(timeout):
                await marker.done.wait()
        except TimeoutError:
            return False
        return marker.delivered

    async def close(self, timeout: float | None = None) -> None:
        """Deliver what is queued (for at most `timeout`, default `exit_timeout`), then stop. Idempotent."""
        if self._closed:
            return
        self._closed = True
        lifecycle.unregister(self)
        limit = self.config.exit_timeout if timeout is None else timeout
        self._ensure_started()
        task, batcher = self._task, self._batcher
        if task is not None and batcher is not None and not task.done():
            batcher.request_close(limit)
            self._put(Close())
            try:
                async with asyncio.timeout(limit + 1.0):
                    await asyncio.shield(task)
            except TimeoutError:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
                self._give_up_on_leftovers()
        if self._spool is not None:
            await asyncio.to_thread(self._spool.close)
        if self._api is not None:
            await self._api.aclose()

    def _give_up_on_leftovers(self) -> None:
        leftovers = [item for item in self._items if isinstance(item, Pending)]
        self._items.clear()
        log.error(
            "close() timed out; %d event(s) %s",
            len(leftovers),
            "remain in the spool" if self._spool is not None else "dropped",
        )
        if self._spool is None:
            self._ledger.drop(leftovers, "not delivered before the close time limit")

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    def _atexit(self) -> None:
        if self._closed:
            return
        loop, task = self._loop, self._task
        if (
            loop is not None
            and task is not None
            and not task.done()
            and loop.is_running()
            and self._loop_thread != threading.get_ident()
        ):
            # The loop lives on in another thread: close there.
            future = asyncio.run_coroutine_threadsafe(self.close(), loop)
            try:
                future.result(self.config.exit_timeout + 2.0)
            except Exception:
                log.exception("closing AsyncRevos at exit failed")
            return
        self._drain_synchronously()

    def _drain_synchronously(self) -> None:
        """At exit with no loop left: deliver leftovers on this thread through the synchronous machinery."""
        self._closed = True
        items = [item for item in self._items if isinstance(item, Pending)]
        self._items.clear()
        if not items:
            if self._spool is not None:
                self._spool.close()
            return
        if self._exit_transport_factory is None:
            log.warning(
                "AsyncRevos was not closed; %d event(s) %s at exit",
                len(items),
                "stay in the spool" if self._spool is not None else "are dropped",
            )
            if self._spool is None:
                self._ledger.drop(items, "AsyncRevos was not closed before exit")
            elif items:
                self._spool.close()
            return
        # No executor threads may start during interpreter shutdown, so asyncio's default loop cannot
        # resolve names; the synchronous transports on this thread can (the Kafka one resolves inline).
        queue = BoundedQueue(max(1, len(items)))
        for item in items:
            queue.put(item)
        transport = self._exit_transport_factory(self.config)
        batcher = Batcher(self.config, queue, transport, self._ledger, self._spool)
        batcher.request_close(self.config.exit_timeout)
        batcher.run()
        if self._spool is not None:
            self._spool.close()

    # -- API helpers (they raise ApiError) ---------------------------------------------------------

    def _client(self) -> AsyncApi:
        if self._api is None:
            require_api_key(self.config)
            self._api = AsyncApi(self.config)
        return self._api

    async def grant_credits(
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
        result: Grant = await self._client().run(call)
        return result

    async def get_balance(self, customer: str) -> Balance:
        """The customer's current balance and grants."""
        result: Balance = await self._client().run(balance_call(customer))
        return result

    async def publish_burn_table(
        self, name: str, rules: Sequence[BurnRule], effective_at: datetime | str | None = None
    ) -> BurnTableVersion:
        """Publish a new version of burn table `name`."""
        result: BurnTableVersion = await self._client().run(burn_table_call(name, rules, effective_at))
        return result
