"""The asyncio shell: performs the engine's requests by awaiting, as one background task on the loop."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from dataclasses import dataclass, field

from revos_sdk._config import Config
from revos_sdk._delivery.batch import Pending
from revos_sdk._delivery.engine import Disk, Engine, Request, Send, Steps, Take, Wait
from revos_sdk._delivery.intake import Close
from revos_sdk._delivery.ledger import Ledger
from revos_sdk._delivery.spool import Spool
from revos_sdk._transports.base import AsyncTransport

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
        self.items = items
        self.transport = transport
        self.engine = Engine(config, ledger, spool, items.__len__, config.max_queue_size, self._drain)
        self._wake = asyncio.Event()
        self.waiting = False

    def wake(self) -> None:
        """Called on the loop thread when an item arrives while the task is idle."""
        self._wake.set()

    def request_close(self, timeout: float) -> None:
        """Give up on delivery `timeout` seconds from now (the Close marker is queued by the client)."""
        self.engine.deadline = time.monotonic() + timeout
        self._wake.set()

    async def run(self) -> None:
        try:
            await self._drive(self.engine.run())
        except asyncio.CancelledError:
            # Cancelled (e.g. asyncio.run() ending): put unsent events back, in order, for close() or atexit.
            # A request in flight has an unknown fate, so its events go back to be sent again.
            self.items.extendleft(reversed(self.engine.unsent()))
            raise
        except Exception:
            log.exception("the revos_sdk batcher task stopped unexpectedly")
            await self._drive(self.engine.abandon())
        finally:
            try:
                await self.transport.aclose()
            except Exception:
                log.exception("closing the transport failed")

    def _drain(self) -> list[Item]:
        items = list(self.items)
        self.items.clear()
        return items

    async def _drive(self, steps: Steps) -> None:
        try:
            request = next(steps)
            while True:
                try:
                    outcome = await self._perform(request)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    request = steps.throw(exc)
                else:
                    request = steps.send(outcome)
        except StopIteration:
            return

    async def _perform(self, request: Request) -> object:
        if isinstance(request, Take):
            if not self.items and request.timeout > 0:
                await self._idle(request.timeout)
            return self.items.popleft() if self.items else None
        if isinstance(request, Send):
            return await self.transport.send(request.batch, request.timeout)
        if isinstance(request, Wait):
            self._wake.clear()
            try:
                async with asyncio.timeout(request.timeout):
                    await self._wake.wait()
            except TimeoutError:
                pass
            return None
        assert isinstance(request, Disk)
        return await asyncio.to_thread(request.function, *request.args)

    async def _idle(self, timeout: float) -> None:
        self._wake.clear()
        self.waiting = True
        try:
            async with asyncio.timeout(timeout):
                await self._wake.wait()
        except TimeoutError:
            pass
        finally:
            self.waiting = False
