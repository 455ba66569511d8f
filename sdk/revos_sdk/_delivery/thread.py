"""The thread shell: performs the engine's requests by blocking, on a daemon thread of its own."""

from __future__ import annotations

import logging
import threading
import time

from revos_sdk._config import Config
from revos_sdk._delivery.engine import Disk, Engine, Request, Send, Steps, Take, Wait
from revos_sdk._delivery.intake import BoundedQueue, Close, Empty
from revos_sdk._delivery.ledger import Ledger
from revos_sdk._delivery.spool import Spool
from revos_sdk._transports.base import Transport

log = logging.getLogger("revos_sdk")


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
        self.queue = queue
        self.transport = transport
        self.engine = Engine(config, ledger, spool, queue.qsize, queue.maxsize, queue.drain)
        self._wake = threading.Event()
        self.in_flight = 0

    # -- control from other threads ----------------------------------------------------------------

    def request_close(self, timeout: float) -> None:
        """Stop after delivering what is queued, giving up `timeout` seconds from now."""
        self.engine.deadline = time.monotonic() + timeout
        self.queue.control(Close())
        self._wake.set()

    # -- the loop ----------------------------------------------------------------------------------

    def run(self) -> None:
        try:
            self._drive(self.engine.run())
        except Exception:
            # Never expected; without this the thread would die silently and the queue would only fill.
            log.exception("the revos_sdk batcher stopped unexpectedly")
            self._drive(self.engine.abandon())
        finally:
            try:
                self.transport.close()
            except Exception:
                log.exception("closing the transport failed")

    def _drive(self, steps: Steps) -> None:
        try:
            request = next(steps)
            while True:
                try:
                    outcome = self._perform(request)
                except Exception as exc:
                    request = steps.throw(exc)
                else:
                    request = steps.send(outcome)
        except StopIteration:
            return

    def _perform(self, request: Request) -> object:
        if isinstance(request, Take):
            try:
                return self.queue.get(request.timeout)
            except Empty:
                return None
        if isinstance(request, Send):
            self.in_flight = len(request.batch)
            try:
                return self.transport.send(request.batch, request.timeout)
            finally:
                self.in_flight = 0
        if isinstance(request, Wait):
            self._wake.wait(request.timeout)
            self._wake.clear()
            return None
        assert isinstance(request, Disk)
        return request.function(*request.args)
