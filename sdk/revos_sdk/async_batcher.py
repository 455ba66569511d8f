"""The asyncio batcher: the same batching, retry and spool rules as the thread, as one background task."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from revos_sdk.backoff import Backoff
from revos_sdk.batch import Batch, BatchBuilder, BatchPolicy, Pending
from revos_sdk.batcher import ADOPT_INTERVAL, HOUSEKEEPING_INTERVAL
from revos_sdk.config import Config
from revos_sdk.delivery import Delivery, unexpected
from revos_sdk.errors import DeliveryError
from revos_sdk.intake import Close
from revos_sdk.ledger import Ledger
from revos_sdk.spool import Spool
from revos_sdk.transport import AsyncTransport

log = logging.getLogger("revos_sdk")


@dataclass(eq=False, slots=True)
class AsyncFlush:
    """Asks the task to send everything queued before it, then report whether it all got resolved."""

    done: asyncio.Event = field(default_factory=asyncio.Event)
    delivered: bool = False

    def finish(self, delivered: bool) -> None:
        self.delivered = delivered
        self.done.set()


Item = Pending | AsyncFlush | Close


class AsyncBatcher:
    """Single consumer of a deque; never raises except CancelledError, after putting events back."""

    def __init__(
        self,
        config: Config,
        items: deque[Item],
        transport: AsyncTransport,
        ledger: Ledger,
        spool: Spool | None,
    ) -> None:
        self.config = config
        self.items = items
        self.transport = transport
        self.ledger = ledger
        self.spool = spool
        self.backoff = Backoff(config.backoff_base, config.backoff_max, config.max_retry_after)
        self.policy = BatchPolicy(
            config.max_batch_events, config.max_batch_bytes, config.max_batch_wait, config.max_backlog_events
        )
        self._builder = BatchBuilder(self.policy)
        self._replay_path: Path | None = None
        self._replay: deque[Pending] = deque()
        self._unresolved: list[Pending] = []
        self._deadline: float | None = None
        self._wake = asyncio.Event()
        self.waiting = False
        self._next_housekeeping = 0.0
        self._next_adopt = 0.0

    def wake(self) -> None:
        """Called on the loop thread when an item arrives while the task is idle."""
        self._wake.set()

    def request_close(self, timeout: float) -> None:
        """Give up on delivery `timeout` seconds from now (the Close marker is queued by the client)."""
        self._deadline = time.monotonic() + timeout
        self._wake.set()

    async def run(self) -> None:
        try:
            await self._loop()
        except asyncio.CancelledError:
            self._restore()
            raise
        except Exception:
            log.exception("the revos_sdk batcher task stopped unexpectedly")
            await self._abandon()
        finally:
            try:
                await self.transport.aclose()
            except Exception:
                log.exception("closing the transport failed")

    def _restore(self) -> None:
        # Cancelled (e.g. asyncio.run() ending): put unsent events back, in order, for close() or atexit.
        self.items.extendleft(reversed(self._builder.take().items))

    async def _loop(self) -> None:
        while True:
            now = time.monotonic()
            if now >= self._next_housekeeping:
                await self._housekeeping(now)
            if not self.items:
                self._builder.backlog = False
                if self._builder.due(now):
                    if not await self._send_builder():
                        return await self._abandon()
                elif not self._builder and self._replay_pending():
                    if not await self._replay_step():
                        return await self._abandon()
                else:
                    await self._idle(now)
                continue
            item = self.items.popleft()
            self._builder.backlog = bool(self.items)
            if isinstance(item, Pending):
                if not self._builder.fits(item):
                    # Back in the queue while the full batch is sent: if the task is cancelled during
                    # the send (the loop ends), the exit path still finds it there.
                    self.items.appendleft(item)
                    if not await self._send_builder():
                        return await self._abandon()
                    continue
                self._builder.add(item, time.monotonic())
                # Checked here too: under steady traffic the deque is rarely empty when the batch ages out.
                if self._builder.due(time.monotonic()) and not await self._send_builder():
                    return await self._abandon()
            elif isinstance(item, AsyncFlush):
                ok = await self._send_builder()
                if self.spool is not None:
                    try:
                        await asyncio.to_thread(self.spool.sync)
                    except OSError:
                        log.exception("cannot fsync the spool %s", self.spool.directory)
                item.finish(ok)
                if not ok:
                    return await self._abandon()
            elif isinstance(item, Close):
                if not await self._send_builder():
                    return await self._abandon()
                # Within the close deadline, also deliver what the spool holds (e.g. a previous run's events).
                while self._replay_pending():
                    if not await self._replay_step():
                        return await self._abandon()
                return await self._finish()

    async def _idle(self, now: float) -> None:
        limit = self._next_housekeeping
        if self._builder.deadline is not None:
            limit = min(limit, self._builder.deadline)
        self._wake.clear()
        self.waiting = True
        try:
            async with asyncio.timeout(max(0.0, limit - now)):
                await self._wake.wait()
        except TimeoutError:
            pass
        finally:
            self.waiting = False

    async def _housekeeping(self, now: float) -> None:
        self._next_housekeeping = now + HOUSEKEEPING_INTERVAL
        if self.spool is None:
            return
        try:
            if now >= self._next_adopt:
                self._next_adopt = now + ADOPT_INTERVAL
                adopted = await asyncio.to_thread(self.spool.adopt)
                if adopted:
                    log.info("adopted %d spool segment(s) left by earlier processes", adopted)
            queue_is_low = len(self.items) <= self.config.max_queue_size // 2
            await asyncio.to_thread(self.spool.maintain, queue_is_low)
        except OSError:
            log.exception("spool maintenance failed in %s", self.spool.directory)

    def _replay_pending(self) -> bool:
        return bool(self._replay) or (self.spool is not None and self.spool.has_replayable)

    async def _replay_step(self) -> bool:
        assert self.spool is not None
        if not self._replay:
            path = self.spool.next_replayable()
            if path is None:
                return True
            try:
                items = await asyncio.to_thread(Spool.read, path)
            except OSError:
                log.exception("cannot read spool segment %s; leaving it for a later process", path)
                return True
            self._replay_path = path
            self._replay.extend(items)
            self.ledger.stats.add("replayed", len(items))
            log.info("replaying %d event(s) from spool segment %s", len(items), path.name)
        builder = BatchBuilder(self.policy)
        while self._replay and builder.fits(self._replay[0]):
            builder.add(self._replay.popleft(), 0.0)
        if not await self._deliver(builder.take()):
            return False
        if not self._replay and self._replay_path is not None:
            Spool.remove(self._replay_path)
            self._replay_path = None
        return True

    async def _send_builder(self) -> bool:
        if not self._builder:
            return True
        return await self._deliver(self._builder.take())

    async def _deliver(self, batch: Batch) -> bool:
        """Send until every event is resolved; False (events kept in _unresolved) if the deadline passed."""
        delivery = Delivery(
            batch, self.backoff, self.ledger, None if self.spool else self.config.retry_deadline
        )
        try:
            while (current := delivery.next()) is not None:
                timeout = self._request_timeout()
                if timeout <= 0:
                    self._unresolved.extend(delivery.remaining())
                    return False
                try:
                    delay = delivery.succeeded(await self.transport.send(current, timeout))
                except DeliveryError as exc:
                    delay = delivery.failed(exc)
                except Exception as exc:
                    delay = delivery.failed(unexpected(exc))
                if delay is not None and not await self._sleep(delay):
                    self._unresolved.extend(delivery.remaining())
                    return False
            return True
        except asyncio.CancelledError:
            # Cancelled mid-request: the events' fate is unknown, so they go back to be sent again.
            self.items.extendleft(reversed(delivery.remaining()))
            raise

    def _request_timeout(self) -> float:
        if self._deadline is None:
            return self.config.request_timeout
        return min(self.config.request_timeout, self._deadline - time.monotonic())

    async def _sleep(self, delay: float) -> bool:
        """Wait `delay` seconds; False as soon as the close deadline passes."""
        end = time.monotonic() + delay
        while True:
            now = time.monotonic()
            deadline = self._deadline
            if deadline is not None and now >= deadline:
                return False
            limit = end if deadline is None else min(end, deadline)
            if now >= limit:
                return True
            self._wake.clear()
            try:
                async with asyncio.timeout(limit - now):
                    await self._wake.wait()
            except TimeoutError:
                pass

    async def _finish(self) -> None:
        self._unresolved.extend(self._replay)
        self._replay.clear()
        await self._settle()

    async def _abandon(self) -> None:
        self._unresolved.extend(self._builder.take().items)
        self._unresolved.extend(self._replay)
        self._replay.clear()
        while self.items:
            item = self.items.popleft()
            if isinstance(item, Pending):
                self._unresolved.append(item)
            elif isinstance(item, AsyncFlush):
                item.finish(False)
        await self._settle()

    async def _settle(self) -> None:
        leftovers, self._unresolved = self._unresolved, []
        replayed = [self._replay_path] if self._replay_path is not None else []
        self._replay_path = None
        if self.spool is not None:
            try:
                await asyncio.to_thread(self.spool.save_leftovers, leftovers, replayed)
                if leftovers:
                    self.ledger.stats.add("spooled", len(leftovers))
                    log.warning(
                        "saved %d undelivered event(s) to the spool %s", len(leftovers), self.spool.directory
                    )
                return
            except OSError:
                log.exception("could not save %d event(s) to the spool", len(leftovers))
        if leftovers:
            log.error("dropping %d undelivered event(s) at close (no spool directory)", len(leftovers))
            self.ledger.drop(leftovers, "not delivered before the close time limit")
