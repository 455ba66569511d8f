"""The background thread that turns queued events into batches and delivers them with retries."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from pathlib import Path

from revos_sdk.backoff import Backoff
from revos_sdk.batch import Batch, BatchBuilder, BatchPolicy, Pending
from revos_sdk.config import Config
from revos_sdk.delivery import Delivery, unexpected
from revos_sdk.errors import DeliveryError
from revos_sdk.intake import BoundedQueue, Close, Empty, Flush
from revos_sdk.ledger import Ledger
from revos_sdk.spool import Spool
from revos_sdk.transport import Transport

log = logging.getLogger("revos_sdk")

# How often the batcher wakes without traffic to fsync, rotate spool segments and look for replays.
HOUSEKEEPING_INTERVAL = 0.1
ADOPT_INTERVAL = 30.0


class Batcher(threading.Thread):
    """Single consumer of a BoundedQueue; sends on count, bytes or age and never raises."""

    def __init__(
        self,
        config: Config,
        queue: BoundedQueue,
        transport: Transport,
        ledger: Ledger,
        spool: Spool | None,
    ) -> None:
        super().__init__(name="revos-sdk-batcher", daemon=True)
        self.config = config
        self.queue = queue
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
        self._wake = threading.Event()
        self._next_housekeeping = 0.0
        self._next_adopt = 0.0
        self.in_flight = 0

    # -- control from other threads ----------------------------------------------------------------

    def request_close(self, timeout: float) -> None:
        """Stop after delivering what is queued, giving up `timeout` seconds from now."""
        self._deadline = time.monotonic() + timeout
        self.queue.control(Close())
        self._wake.set()

    # -- the loop ----------------------------------------------------------------------------------

    def run(self) -> None:
        try:
            self._loop()
        except Exception:
            # Never expected; without this the thread would die silently and the queue would only fill.
            log.exception("the revos_sdk batcher stopped unexpectedly")
            self._abandon()
        finally:
            try:
                self.transport.close()
            except Exception:
                log.exception("closing the transport failed")

    def _loop(self) -> None:
        while True:
            now = time.monotonic()
            if now >= self._next_housekeeping:
                self._housekeeping(now)
            try:
                item = self.queue.get(self._wait_time(now))
            except Empty:
                item = None
            self._builder.backlog = self.queue.qsize() > 0
            if isinstance(item, Pending):
                if not self._builder.fits(item) and not self._send_builder():
                    self._unresolved.append(item)
                    return self._abandon()
                self._builder.add(item, time.monotonic())
                # Checked here too: under steady traffic the queue is rarely empty when the batch ages out.
                if self._builder.due(time.monotonic()) and not self._send_builder():
                    return self._abandon()
            elif isinstance(item, Flush):
                ok = self._send_builder()
                self._sync_spool()
                item.finish(ok)
                if not ok:
                    return self._abandon()
            elif isinstance(item, Close):
                if not self._send_builder():
                    return self._abandon()
                # Within the close deadline, also deliver what the spool holds (e.g. a previous run's events).
                while self._replay_pending():
                    if not self._replay_step():
                        return self._abandon()
                return self._finish()
            elif self._builder.due(time.monotonic()):
                if not self._send_builder():
                    return self._abandon()
            elif (
                not self._builder
                and self.queue.qsize() == 0
                and self._replay_pending()
                and not self._replay_step()
            ):
                return self._abandon()

    def _wait_time(self, now: float) -> float:
        if self._builder.deadline is not None:
            return max(0.0, min(self._builder.deadline, self._next_housekeeping) - now)
        if not self._builder and self._replay_pending():
            return 0.0
        return max(0.0, self._next_housekeeping - now)

    def _sync_spool(self) -> None:
        if self.spool is None:
            return
        try:
            self.spool.sync()
        except OSError:
            log.exception("cannot fsync the spool %s", self.spool.directory)

    def _housekeeping(self, now: float) -> None:
        self._next_housekeeping = now + HOUSEKEEPING_INTERVAL
        if self.spool is None:
            return
        try:
            if now >= self._next_adopt:
                self._next_adopt = now + ADOPT_INTERVAL
                adopted = self.spool.adopt()
                if adopted:
                    log.info("adopted %d spool segment(s) left by earlier processes", adopted)
            self.spool.maintain(queue_is_low=self.queue.qsize() <= self.queue.maxsize // 2)
        except OSError:
            # A disk problem must not stop delivery of what is in memory.
            log.exception("spool maintenance failed in %s", self.spool.directory)

    # -- replay of disk-only segments --------------------------------------------------------------

    def _replay_pending(self) -> bool:
        return bool(self._replay) or (self.spool is not None and self.spool.has_replayable)

    def _replay_step(self) -> bool:
        """Send one batch from the segment being replayed; False if the close deadline passed."""
        assert self.spool is not None
        if not self._replay:
            path = self.spool.next_replayable()
            if path is None:
                return True
            try:
                items = Spool.read(path)
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
        if not self._deliver(builder.take()):
            return False
        if not self._replay and self._replay_path is not None:
            Spool.remove(self._replay_path)
            self._replay_path = None
        return True

    # -- delivery ----------------------------------------------------------------------------------

    def _send_builder(self) -> bool:
        if not self._builder:
            return True
        return self._deliver(self._builder.take())

    def _deliver(self, batch: Batch) -> bool:
        """Send until every event is resolved; False (events kept in _unresolved) if the deadline passed."""
        delivery = Delivery(
            batch, self.backoff, self.ledger, None if self.spool else self.config.retry_deadline
        )
        while (current := delivery.next()) is not None:
            timeout = self._request_timeout()
            if timeout <= 0:
                self._unresolved.extend(delivery.remaining())
                return False
            self.in_flight = len(current)
            try:
                delay = delivery.succeeded(self.transport.send(current, timeout))
            except DeliveryError as exc:
                delay = delivery.failed(exc)
            except Exception as exc:
                delay = delivery.failed(unexpected(exc))
            finally:
                self.in_flight = 0
            if delay is not None and not self._sleep(delay):
                self._unresolved.extend(delivery.remaining())
                return False
        return True

    def _request_timeout(self) -> float:
        if self._deadline is None:
            return self.config.request_timeout
        return min(self.config.request_timeout, self._deadline - time.monotonic())

    def _sleep(self, delay: float) -> bool:
        """Wait `delay` seconds; False as soon as the close deadline passes."""
        end = time.monotonic() + delay
        while True:
            now = time.monotonic()
            deadline = self._deadline
            if deadline is not None and now >= deadline:
                return False
            limit = end if deadline is None else min(end, deadline)
            if now >= limit:
                return deadline is None or now < deadline
            self._wake.wait(limit - now)
            self._wake.clear()

    # -- stopping ----------------------------------------------------------------------------------

    def _finish(self) -> None:
        """Clean stop: anything still unresolved (a replay in progress) is saved or dropped."""
        self._unresolved.extend(self._replay)
        self._replay.clear()
        self._settle()

    def _abandon(self) -> None:
        """Deadline stop: gather every undelivered event and save it to the spool, or count it dropped."""
        self._unresolved.extend(self._builder.take().items)
        self._unresolved.extend(self._replay)
        self._replay.clear()
        for item in self.queue.drain():
            if isinstance(item, Pending):
                self._unresolved.append(item)
            elif isinstance(item, Flush):
                item.finish(False)
        self._settle()

    def _settle(self) -> None:
        leftovers, self._unresolved = self._unresolved, []
        replayed = [self._replay_path] if self._replay_path is not None else []
        self._replay_path = None
        if self.spool is not None:
            try:
                self.spool.save_leftovers(leftovers, replayed)
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
