"""Benchmarks: caller-side cost of track(), and delivery throughput against a real gateway.

`python -m revos_sdk.bench` prints the track() figures as JSON; `make bench` imports the functions.
"""

from __future__ import annotations

import json
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from revos_sdk._client.revos import Revos
from revos_sdk._transports.base import NullTransport
from revos_sdk._transports.http import EVENTS_PATH, client_headers

_PROPERTIES = {"model": "gpt-4o", "direction": "output"}


def _percentile(sorted_ns: list[int], fraction: float) -> float:
    index = min(len(sorted_ns) - 1, int(fraction * len(sorted_ns)))
    return sorted_ns[index] / 1000.0


def _timed_calls(revos: Revos, count: int, out: list[int], start: threading.Barrier | None) -> None:
    clock, track = time.perf_counter_ns, revos.track
    if start is not None:
        start.wait()
    for i in range(count):
        before = clock()
        track("cust_1", "llm.tokens", i + 1, _PROPERTIES)
        out.append(clock() - before)


def track_latency(events: int = 200_000, threads: int = 1, spool_dir: Path | None = None) -> dict[str, float]:
    """p50/p99/max microseconds per track() call from `threads` threads, delivering to a NullTransport."""
    revos = Revos(
        api_key="bench",
        transport_factory=lambda _: NullTransport(),
        max_queue_size=events + 1,
        spool_dir=spool_dir,
    )
    per_thread = events // threads
    samples: list[list[int]] = [[] for _ in range(threads)]
    # Warm up allocators and the batcher thread before measuring.
    _timed_calls(revos, 2_000, [], None)
    barrier = threading.Barrier(threads)
    workers = [
        threading.Thread(target=_timed_calls, args=(revos, per_thread, samples[t], barrier))
        for t in range(threads)
    ]
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - started
    revos.flush(30)
    stats = revos.stats()
    revos.close()
    merged = sorted(ns for thread_samples in samples for ns in thread_samples)
    return {
        "threads": threads,
        "calls": len(merged),
        "p50_us": round(_percentile(merged, 0.50), 2),
        "p99_us": round(_percentile(merged, 0.99), 2),
        "max_us": round(merged[-1] / 1000.0, 1),
        "calls_per_s": round(len(merged) / elapsed),
        "dropped": stats["dropped"],
    }


def track_cost(events: int = 200_000) -> dict[str, Any]:
    """The figures for `make bench`: track() cost with 1 and 8 threads, in memory and with a spool."""
    with tempfile.TemporaryDirectory(prefix="revos-bench-spool-") as spool:
        return {
            "memory_1_thread": track_latency(events, 1),
            "memory_8_threads": track_latency(events, 8),
            "spool_1_thread": track_latency(events // 4, 1, Path(spool)),
        }


def delivery_throughput(
    base_url: str, api_key: str, events: int = 50_000, threads: int = 8, max_batch_events: int = 100
) -> dict[str, float]:
    """Events/s from `threads` threads through the SDK until the gateway has answered for all of them."""
    revos = Revos(
        api_key=api_key, base_url=base_url, max_queue_size=events + 1, max_batch_events=max_batch_events
    )
    per_thread = events // threads
    started = time.perf_counter()
    workers = [
        threading.Thread(target=lambda: [revos.track("bench", "llm.tokens") for _ in range(per_thread)])
        for _ in range(threads)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    delivered = revos.flush(300)
    elapsed = time.perf_counter() - started
    stats = revos.stats()
    revos.close()
    return {
        "events": per_thread * threads,
        "seconds": round(elapsed, 3),
        "events_per_s": round(stats["sent"] / elapsed),
        "all_delivered": float(delivered and stats["sent"] == per_thread * threads),
    }


def naive_throughput(base_url: str, api_key: str, events: int = 2_000) -> dict[str, float]:
    """Events/s for the baseline the SDK is compared with: one blocking request per event."""
    with httpx.Client(base_url=base_url, headers=client_headers(api_key)) as client:
        started = time.perf_counter()
        for i in range(events):
            event = {"id": f"naive-{started}-{i}", "customer": "bench", "type": "llm.tokens"}
            client.post(EVENTS_PATH, json={"events": [event]}).raise_for_status()
        elapsed = time.perf_counter() - started
    return {"events": events, "seconds": round(elapsed, 3), "events_per_s": round(events / elapsed)}


if __name__ == "__main__":
    print(json.dumps(track_cost(), indent=2))
