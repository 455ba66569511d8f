"""Faust's aiokafka transport with a short fetch wait.

Faust fixes `fetch_max_wait_ms` at 1500 ms. Brokers that hold a fetch for its whole wait even when
records arrive (the embedded broker does) would add up to that much latency to every balance update;
50 ms bounds it while costing a broker only a few idle fetches a second.
"""

from __future__ import annotations

from typing import Any

from faust.transport.drivers import aiokafka as driver

FETCH_MAX_WAIT_MS = 50


class _ConsumerThread(driver.AIOKafkaConsumerThread):  # type: ignore[misc]
    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        consumer._fetch_max_wait_ms = FETCH_MAX_WAIT_MS
        return consumer


class _Consumer(driver.Consumer):  # type: ignore[misc]
    def _new_consumer_thread(self) -> Any:
        return _ConsumerThread(self, loop=self.loop, beacon=self.beacon)


class Transport(driver.Transport):  # type: ignore[misc]
    Consumer = _Consumer


# Registered with Faust through the "faust.transports" entry point in pyproject.toml.
SCHEME = "revoskafka"
