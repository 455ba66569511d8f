"""The batcher without I/O: when to take, send, wait and save, as a generator of requests a shell performs.

`Engine.run()` yields `Take`, `Send`, `Wait` and `Disk` requests and is resumed with their outcome (or has
the error thrown in). The thread shell performs them by blocking, the asyncio shell by awaiting, so the
batching, retry, replay and shutdown rules exist once.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from revos_sdk._config import Config
from revos_sdk._delivery.backoff import Backoff
from revos_sdk._delivery.batch import Batch, BatchBuilder, BatchPolicy, Pending
from revos_sdk._delivery.delivery import Delivery, unexpected
from revos_sdk._delivery.intake import Close
from revos_sdk._delivery.ledger import Ledger
from revos_sdk._delivery.spool import Spool
from revos_sdk._errors import DeliveryError
from revos_sdk._transports.base import EventResult

log = logging.getLogger("revos_sdk")

# How often the batcher wakes without traffic to fsync, rotate spool segments and look for replays.
HOUSEKEEPING_INTERVAL = 0.1
ADOPT_INTERVAL = 30.0


class Marker(Protocol):
    """A flush request from a client: told whether everything queued before it got resolved."""

    def finish(self, delivered: bool) -> None: ...


Item = Pending | Close | Marker


@dataclass(slots=True)
class Take:
    """The next queued item, waiting up to `timeout` seconds; resumed with None if none came."""

    timeout: float


@dataclass(slots=True)
class Send:
    """One request through the transport; resumed with its results, or the error is thrown in."""

    batch: Batch
    timeout: float


@dataclass(slots=True)
class Wait:
    """Sleep up to `timeout` seconds, waking early when the client signals (a close request)."""

    timeout: float


@dataclass(slots=True)
class Disk:
    """Call `function(*args)` on the spool (off the event loop in the asyncio shell)."""

    function: Callable[..., Any]
    args: tuple[Any, ...] = ()


Request = Take | Send | Wait | Disk
Steps = Generator[Request, Any, None]
Outcome = Generator[Request, Any, bool]  # True when everything it sent got resolved before the deadline


class Engine:
    """Single consumer of a client's queue: sends on count, bytes or age; never raises except from I/O."""

    def __init__(
        self,
        config: Config,
        ledger: Ledger,
        spool: Spool | None,
        queued: Callable[[], int],
        queue_limit: int,
        drain: Callable[[], Sequence[Item]],
    ) -> None:
        self.config = config
        self.ledger = ledger
        self.spool = spool
        self._queued = queued
        self._queue_limit = queue_limit
        self._drain = drain
        self.backoff = Backoff(config.backoff_base, config.backoff_max, config.max_retry_after)
        self.policy = BatchPolicy(
            config.max_batch_events, config.max_batch_bytes, config.max_batch_wait, config.max_backlog_events
        )
        self.deadline: float | None = None  # set by the shell when the client asks it to close
        self._builder = BatchBuilder(self.policy)
        self._replay_path: Path | None = None
        self._replay: deque[Pending] = deque()
        self._unresolved: list[Pending] = []
        self._held: Pending | None = None
        self._delivery: Delivery | None = None
        self._next_housekeeping = 0.0
        self._next_adopt = 0.0

    def run(self) -> Steps:
        """Deliver until a Close item, or until the close deadline passes (then save or drop the rest)."""
        while True:
            now = time.monotonic()
            if now >= self._next_housekeeping:
                yield from self._housekeeping(now)
            item = yield Take(self._wait_time(now))
            self._builder.backlog = self._queued() > 0
            if isinstance(item, Pending):
                if not self._builder.fits(item):
                    self._held = item
                    sent = yield from self._send_builder()
                    self._held = None
                    if not sent:
                        self._unresolved.append(item)
                        return (yield from self.abandon())
                self._builder.add(item, time.monotonic())
                # Checked here too: under steady traffic the queue is rarely empty when the batch ages out.
                if self._builder.due(time.monotonic()) and not (yield from self._send_builder()):
                    return (yield from self.abandon())
            elif isinstance(item, Close):
                if not (yield from self._send_builder()):
                    return (yield from self.abandon())
                # Within the close deadline, also deliver what the spool holds (e.g. a previous run's events).
                while self._replay_pending():
                    if not (yield from self._replay_step()):
                        return (yield from self.abandon())
                return (yield from self._finish())
            elif item is not None:
                ok = yield from self._send_builder()
                yield from self._sync_spool()
                item.finish(ok)
                if not ok:
                    return (yield from self.abandon())
            elif self._builder.due(time.monotonic()):
                if not (yield from self._send_builder()):
                    return (yield from self.abandon())
            elif (
                not self._builder
                and self._queued() == 0
                and self._replay_pending()
                and not (yield from self._replay_step())
            ):
                return (yield from self.abandon())

    def unsent(self) -> list[Pending]:
        """Events taken from the queue and not resolved, in order (put back when the task is cancelled)."""
        items = list(self._builder.take().items)
        if self._delivery is not None:
            items.extend(self._delivery.remaining())
            self._delivery = None
        if self._held is not None:
            items.append(self._held)
            self._held = None
        return items

    def _wait_time(self, now: float) -> float:
        if self._builder.deadline is not None:
            return max(0.0, min(self._builder.deadline, self._next_housekeeping) - now)
        if not self._builder and self._replay_pending():
            return 0.0
        return max(0.0, self._next_housekeeping - now)

    def _sync_spool(self) -> Steps:
        if self.spool is None:
            return
        try:
            yield Disk(self.spool.sync)
        except OSError:
            log.exception("cannot fsync the spool %s", self.spool.directory)

    def _housekeeping(self, now: float) -> Steps:
        self._next_housekeeping = now + HOUSEKEEPING_INTERVAL
        if self.spool is None:
            return
        try:
            if now >= self._next_adopt:
                self._next_adopt = now + ADOPT_INTERVAL
                adopted = yield Disk(self.spool.adopt)
                if adopted:
                    log.info("adopted %d spool segment(s) left by earlier processes", adopted)
            yield Disk(self.spool.maintain, (self._queued() <= self._queue_limit // 2,))
        except OSError:
            # A disk problem must not stop delivery of what is in memory.
            log.exception("spool maintenance failed in %s", self.spool.directory)

    # -- replay of disk-only segments --------------------------------------------------------------

    def _replay_pending(self) -> bool:
        return bool(self._replay) or (self.spool is not None and self.spool.has_replayable)

    def _replay_step(self) -> Outcome:
        """Send one batch from the segment being replayed; False if the close deadline passed."""
        assert self.spool is not None
        if not self._replay:
            path = self.spool.next_replayable()
            if path is None:
                return True
            try:
                items = yield Disk(Spool.read, (path,))
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
        if not (yield from self._deliver(builder.take())):
            return False
        if not self._replay and self._replay_path is not None:
            Spool.remove(self._replay_path)
            self._replay_path = None
        return True

    # -- delivery ----------------------------------------------------------------------------------

    def _send_builder(self) -> Outcome:
        if not self._builder:
            return True
        return (yield from self._deliver(self._builder.take()))

    def _deliver(self, batch: Batch) -> Outcome:
        """Send until every event is resolved; False (events kept in _unresolved) if the deadline passed."""
        delivery = Delivery(
            batch, self.backoff, self.ledger, None if self.spool else self.config.retry_deadline
        )
        self._delivery = delivery
        while (current := delivery.next()) is not None:
            timeout = self._request_timeout()
            if timeout <= 0:
                self._delivery = None
                self._unresolved.extend(delivery.remaining())
                return False
            results: Sequence[EventResult]
            try:
                results = yield Send(current, timeout)
                delay = delivery.succeeded(results)
            except DeliveryError as exc:
                delay = delivery.failed(exc)
            except Exception as exc:
                delay = delivery.failed(unexpected(exc))
            if delay is not None and not (yield from self._sleep(delay)):
                self._delivery = None
                self._unresolved.extend(delivery.remaining())
                return False
        self._delivery = None
        return True

    def _request_timeout(self) -> float:
        if self.deadline is None:
            return self.config.request_timeout
        return min(self.config.request_timeout, self.deadline - time.monotonic())

    def _sleep(self, delay: float) -> Outcome:
        """Wait `delay` seconds; False as soon as the close deadline passes."""
        end = time.monotonic() + delay
        while True:
            now = time.monotonic()
            deadline = self.deadline
            if deadline is not None and now >= deadline:
                return False
            limit = end if deadline is None else min(end, deadline)
            if now >= limit:
                return deadline is None or now < deadline
            yield Wait(limit - now)

    # -- stopping ----------------------------------------------------------------------------------

    def _finish(self) -> Steps:
        """Clean stop: anything still unresolved (a replay in progress) is saved or dropped."""
        self._unresolved.extend(self._replay)
        self._replay.clear()
        yield from self._settle()

    def abandon(self) -> Steps:
        """Deadline stop: gather every undelivered event and save it to the spool, or count it dropped."""
        self._unresolved.extend(self._builder.take().items)
        self._unresolved.extend(self._replay)
        self._replay.clear()
        for item in self._drain():
            if isinstance(item, Pending):
                self._unresolved.append(item)
            elif not isinstance(item, Close):
                item.finish(False)
        yield from self._settle()

    def _settle(self) -> Steps:
        leftovers, self._unresolved = self._unresolved, []
        replayed = [self._replay_path] if self._replay_path is not None else []
        self._replay_path = None
        if self.spool is not None:
            try:
                yield Disk(self.spool.save_leftovers, (leftovers, replayed))
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
