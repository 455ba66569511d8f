"""The worker's Prometheus metrics, served on REVOS_WORKER_METRICS_PORT + worker id when that is set.

Records applied and failed per stream, dead letters by code, how long applying and folding take, the
consumer lag of each partition (the broker's end offset minus the offset the projection tracked in
PostgreSQL), the scheduler's last tick, and an error rate a person can read: failed records over
records, over the last 5 and 60 minutes.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Sequence
from typing import Any

from prometheus_client import Counter, Gauge, Histogram, start_http_server

log = logging.getLogger(__name__)

RECORDS = Counter(
    "revos_worker_records", "Records processed (applied or dead-lettered), by stream", ["stream"]
)
FAILED = Counter(
    "revos_worker_records_failed", "Records (or events of one) dead-lettered, by stream", ["stream"]
)
DEAD_LETTERS = Counter(
    "revos_worker_dead_letters", "Dead letters produced, by stream and code", ["stream", "code"]
)
APPLY_SECONDS = Histogram(
    "revos_worker_apply_seconds", "One batch of one partition applied and its offset tracked", ["stream"]
)
FOLD_SECONDS = Histogram("revos_worker_fold_seconds", "The billing fold over one batch")
WRITE_SECONDS = Histogram("revos_worker_write_seconds", "The billing projection's write of one batch")
LAG = Gauge(
    "revos_worker_consumer_lag",
    "Records on the broker not yet applied: end offset minus tracked offset",
    ["consumer", "topic", "partition"],
)
SCHEDULER_TICK_AGE = Gauge(
    "revos_scheduler_last_tick_age_seconds", "Seconds since this worker's scheduler last ticked (-1: never)"
)
ERROR_RATE = Gauge(
    "revos_worker_error_rate", "Failed records over records processed in the window (0 with none)", ["window"]
)
WINDOW_RECORDS = Gauge("revos_worker_window_records", "Records processed in the window", ["window"])
WINDOW_FAILED = Gauge("revos_worker_window_failed", "Records failed in the window", ["window"])
WINDOWS = {"5m": 300, "60m": 3600}
LAG_EVERY = 1.0  # seconds between lag measurements


class ErrorWindow:
    """Records and failures counted by minute, for the error rate over the last minutes."""

    def __init__(self) -> None:
        self._minutes: deque[list[int]] = deque()  # [minute, records, failed]

    def add(self, records: int, failed: int, now: float | None = None) -> None:
        minute = int((time.time() if now is None else now) // 60)
        if not self._minutes or self._minutes[-1][0] != minute:
            self._minutes.append([minute, 0, 0])
            while self._minutes and self._minutes[0][0] <= minute - 60:
                self._minutes.popleft()
        self._minutes[-1][1] += records
        self._minutes[-1][2] += failed

    def totals(self, seconds: int, now: float | None = None) -> tuple[int, int]:
        first = int((time.time() if now is None else now) // 60) - seconds // 60 + 1
        kept = [m for m in self._minutes if m[0] >= first]
        return sum(m[1] for m in kept), sum(m[2] for m in kept)


_errors = ErrorWindow()
_last_tick: float | None = None


def applied(stream: str, records: int, seconds: float) -> None:
    RECORDS.labels(stream).inc(records)
    APPLY_SECONDS.labels(stream).observe(seconds)
    _errors.add(records, 0)


def dead_lettered(stream: str, codes: Sequence[str]) -> None:
    """Dead letters a stream produced (a failed record, or a record its fold rejected)."""
    for code in codes:
        DEAD_LETTERS.labels(stream, code).inc()
    FAILED.labels(stream).inc(len(codes))
    _errors.add(0, len(codes))


def ticked() -> None:
    global _last_tick
    _last_tick = time.monotonic()


def refresh() -> None:
    """The figures computed when they are read: error rates and the scheduler's tick age."""
    for name, seconds in WINDOWS.items():
        records, failed = _errors.totals(seconds)
        WINDOW_RECORDS.labels(name).set(records)
        WINDOW_FAILED.labels(name).set(failed)
        ERROR_RATE.labels(name).set(min(1.0, failed / records) if records else 0.0)
    SCHEDULER_TICK_AGE.set(-1 if _last_tick is None else time.monotonic() - _last_tick)


def serve(port: int) -> None:
    start_http_server(port, addr="127.0.0.1")
    log.info("worker metrics on http://127.0.0.1:%d/metrics", port)


TRACKED = "SELECT consumer, topic, partition, next_offset FROM stream_offsets"


async def measure_lag(pool: Any, bootstrap_servers: str, consumers: dict[str, Sequence[str]]) -> None:
    """Set the lag of every partition of every consumer's topics, every LAG_EVERY seconds, until cancelled."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap_servers, enable_auto_commit=False)
    await consumer.start()
    try:
        while True:
            try:
                await consumer.topics()  # the partitions of every topic, as the broker has them now
                parts = [
                    TopicPartition(t, p)
                    for t in {t for ts in consumers.values() for t in ts}
                    for p in sorted(consumer.partitions_for_topic(t) or ())
                ]
                ends = await consumer.end_offsets(parts) if parts else {}
                tracked = {(r[0], r[1], r[2]): r[3] for r in await pool.fetch(TRACKED)}
                for name, topics in consumers.items():
                    for tp, end in ends.items():
                        if tp.topic in topics:
                            done = tracked.get((name, tp.topic, tp.partition), 0)
                            LAG.labels(name, tp.topic, str(tp.partition)).set(max(0, end - done))
                refresh()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the broker or database is down: the next measurement tells
                log.debug("could not measure the consumer lag: %r", exc)
            await asyncio.sleep(LAG_EVERY)
    finally:
        await consumer.stop()
