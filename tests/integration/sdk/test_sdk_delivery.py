"""Revos against a real local HTTP server: batching, faults, retries, rejections, overflow."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from revos_sdk import DeliveryError, Event, EventDropped, EventRejected, Revos, RevosError
from sdk_fault_server import API_KEY, FAST, FaultServer, wait_until


def client(server: FaultServer, **options: Any) -> Revos:
    return Revos(api_key=API_KEY, base_url=server.url, **{**FAST, **options})


def track_many(revos: Revos, n: int, prefix: str = "c") -> set[str]:
    return {revos.track(f"{prefix}{i % 7}", "llm.tokens", i + 1, {"model": "gpt-4o"}) for i in range(n)}


def test_every_event_arrives_once_in_batches_of_at_most_max(server: FaultServer) -> None:
    with client(server, max_batch_events=50, max_backlog_events=50, max_batch_wait=0.2) as revos:
        ids = track_many(revos, 260)
        assert revos.flush(10)
        stats = revos.stats()
    assert server.unique_ids == ids
    assert server.duplicates() == 0
    assert max(len(a.ids) for a in server.arrivals) == 50
    assert stats["sent"] == 260 and stats["enqueued"] == 260 and stats["retried"] == 0


def test_a_partial_batch_is_sent_after_max_batch_wait(server: FaultServer) -> None:
    with client(server, max_batch_wait=0.3) as revos:
        started = time.monotonic()
        event_id = revos.track("c1", "llm.tokens")
        server.wait_for_ids({event_id}, timeout=5)
        waited = server.arrivals[0].at - started
    assert 0.25 <= waited < 2.0


def test_large_bodies_are_gzipped_and_small_ones_are_not(server: FaultServer) -> None:
    with client(server, gzip_threshold=2048) as revos:
        small = revos.track("c1", "llm.tokens")
        assert revos.flush(5)
        big = {revos.track("c1", "llm.tokens", properties={"prompt": "x" * 500}) for _ in range(20)}
        assert revos.flush(5)
    assert server.unique_ids == big | {small}
    assert [a.gzip for a in server.arrivals] == [False, True]


def test_faults_lose_nothing_and_duplicates_are_only_resends(server: FaultServer) -> None:
    # Each entry hits one request; "slow" and "drop-after" process the events but lose the answer.
    server.faults.extend(["500", "drop", "429:0.1", "slow:1.5", "503", "drop-after", "500"])
    with client(server, max_batch_events=40, max_backlog_events=40, request_timeout=0.5) as revos:
        ids = track_many(revos, 400)
        assert revos.flush(30)
        stats = revos.stats()
    assert server.unique_ids == ids
    # Only the two batches that were processed without an answer may arrive twice.
    assert 0 < server.duplicates() <= 80
    assert stats["sent"] == 400 and stats["retried"] >= 7 * 1
    assert stats["failed"] == stats["dropped"] == stats["rejected"] == 0


def test_backoff_waits_at_least_retry_after(server: FaultServer) -> None:
    server.faults.extend(["429:1", "503:0.5"])
    with client(server) as revos:
        event_id = revos.track("c1", "llm.tokens")
        server.wait_for_ids({event_id}, timeout=10)
    first, second, third = (a.at for a in server.arrivals[:3])
    assert second - first >= 0.99
    assert third - second >= 0.49


def test_a_gateway_down_for_seconds_loses_nothing(server: FaultServer) -> None:
    with client(server, backoff_max=0.5) as revos:
        before = track_many(revos, 100, "a")
        assert revos.flush(5)
        server.stop()
        during = track_many(revos, 300, "b")
        time.sleep(3.0)  # The outage itself: the scenario is "down for 3 seconds".
        assert revos.stats()["sent"] == 100
        server.start()
        assert revos.flush(15)
        stats = revos.stats()
    assert server.unique_ids == before | during
    assert server.duplicates() == 0
    assert stats["sent"] == 400 and stats["retried"] > 0


def test_rejected_events_go_to_on_error_and_are_not_retried(server: FaultServer) -> None:
    reported: list[tuple[list[Event], RevosError]] = []
    with client(server, on_error=lambda events, error: reported.append((events, error))) as revos:
        good = {revos.track("c1", "llm.tokens") for _ in range(5)}
        bad = {revos.track("c1", "llm.tokens", properties={"reject": True}) for _ in range(3)}
        assert revos.flush(5)
        stats = revos.stats()
    assert server.unique_ids == good
    assert {e.id for events, _ in reported for e in events} == bad
    assert all(isinstance(err, EventRejected) and err.code == "invalid_event" for _, err in reported)
    assert len(server.arrivals) == 1
    assert stats["rejected"] == 3 and stats["sent"] == 5


def test_a_bad_api_key_fails_the_batch_without_retrying(server: FaultServer) -> None:
    reported: list[RevosError] = []
    revos = Revos(
        api_key="wrong", base_url=server.url, on_error=lambda _, error: reported.append(error), **FAST
    )
    with revos:
        revos.track("c1", "llm.tokens")
        assert revos.flush(5)
        stats = revos.stats()
    assert len(server.arrivals) == 1
    assert isinstance(reported[0], DeliveryError) and reported[0].status == 401
    assert reported[0].code == "unauthorized"
    assert stats["failed"] == 1 and stats["retried"] == 0


def test_a_413_splits_the_batch_until_it_fits(server: FaultServer) -> None:
    server.max_events = 12
    with client(server, max_batch_events=100) as revos:
        ids = track_many(revos, 100)
        assert revos.flush(10)
    assert server.unique_ids == ids and server.duplicates() == 0


def test_overflow_drop_counts_and_reports_every_dropped_event(server: FaultServer) -> None:
    server.stop()
    dropped: list[str] = []

    def on_error(events: list[Event], error: RevosError) -> None:
        assert isinstance(error, EventDropped)
        dropped.extend(e.id for e in events)

    # At most a queue and one batch are held; backlog batches are capped at the same size.
    with client(
        server, max_queue_size=50, max_batch_events=10, max_backlog_events=10, on_error=on_error
    ) as revos:
        ids = track_many(revos, 200)
        stats = revos.stats()
        assert stats["dropped"] == len(dropped) >= 200 - 50 - 10
        server.start()
        assert revos.flush(15)
    assert server.unique_ids == ids - set(dropped)


def test_overflow_block_waits_for_room_up_to_the_timeout(server: FaultServer) -> None:
    server.stop()
    revos = client(
        server, max_queue_size=5, max_batch_events=1, overflow="block", block_timeout=0.3, exit_timeout=0.5
    )
    for _ in range(10):
        revos.track("c1", "llm.tokens")
    started = time.monotonic()
    revos.track("c1", "llm.tokens")
    assert time.monotonic() - started >= 0.29
    assert revos.stats()["dropped"] >= 1
    # When room appears, a blocked caller proceeds at once.
    server.start()
    waiting = threading.Thread(target=lambda: [revos.track("c1", "llm.tokens") for _ in range(30)])
    waiting.start()
    waiting.join(10)
    assert not waiting.is_alive()
    assert revos.flush(10)
    revos.close()


def test_close_gives_up_at_its_deadline_and_reports_what_it_dropped(server: FaultServer) -> None:
    server.stop()
    dropped: list[str] = []
    revos = client(server, on_error=lambda events, _: dropped.extend(e.id for e in events))
    ids = track_many(revos, 30)
    assert not revos.flush(0.3)
    started = time.monotonic()
    revos.close(timeout=0.5)
    assert time.monotonic() - started < 2.0
    assert set(dropped) == ids
    assert revos.stats()["dropped"] == 30
    # A closed client drops (and reports) instead of raising.
    late = revos.track("c1", "llm.tokens")
    assert late in dropped


def test_retry_deadline_fails_the_batch_without_a_spool(server: FaultServer) -> None:
    server.faults.extend(["500"] * 1000)
    reported: list[RevosError] = []
    with client(server, retry_deadline=0.3, on_error=lambda _, error: reported.append(error)) as revos:
        revos.track("c1", "llm.tokens")
        assert revos.flush(5)
        stats = revos.stats()
    assert stats["failed"] == 1 and stats["sent"] == 0
    assert isinstance(reported[0], DeliveryError) and reported[0].status == 500


def test_tracking_from_many_threads_delivers_each_event_once(server: FaultServer) -> None:
    server.faults.extend(["500", "drop", "500"])
    ids: list[set[str]] = [set() for _ in range(8)]
    with client(server) as revos:
        threads = [threading.Thread(target=lambda s=s: s.update(track_many(revos, 500))) for s in ids]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert revos.flush(20)
    everything = set().union(*ids)
    assert len(everything) == 4000
    assert server.unique_ids == everything


def test_the_client_can_be_configured_from_the_environment(
    server: FaultServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REVOS_API_KEY", API_KEY)
    monkeypatch.setenv("REVOS_BASE_URL", server.url)
    with Revos(max_batch_wait=0.05) as revos:
        event_id = revos.track("c1", "llm.tokens")
        assert revos.flush(5)
    wait_until(lambda: event_id in server.unique_ids, 5)


def test_a_backlog_is_sent_in_larger_batches_and_a_trickle_in_small_ones(server: FaultServer) -> None:
    with client(server, max_batch_events=50, max_backlog_events=400, max_batch_wait=0.2) as revos:
        burst = {revos.track("c1", "llm.tokens") for _ in range(2000)}
        assert revos.flush(10)
        burst_sizes = [len(a.ids) for a in server.arrivals]
        trickle = {revos.track("c1", "llm.tokens") for _ in range(3)}
        assert revos.flush(10)
    assert server.unique_ids == burst | trickle and server.duplicates() == 0
    assert max(burst_sizes) > 50 and max(burst_sizes) <= 400  # a queued burst rides in larger requests
    assert [len(a.ids) for a in server.arrivals[len(burst_sizes) :]] == [3]
