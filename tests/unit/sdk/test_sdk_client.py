"""The client's contracts against in-memory fake transports (threads, no network, no disk)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Sequence
from decimal import Decimal

import pytest
from revos_sdk import (
    AsyncRevos,
    Batch,
    Config,
    DeliveryError,
    Event,
    EventResult,
    InvalidEvent,
    Revos,
    RevosError,
)
from revos_sdk._delivery.backoff import Backoff
from revos_sdk._delivery.delivery import Delivery
from revos_sdk._delivery.ledger import Ledger
from revos_sdk._delivery.stats import Stats


class FakeTransport:
    """Records batches; `script` decides each call's fate (an exception to raise, or None to accept)."""

    def __init__(self, script: Callable[[Batch], DeliveryError | None] = lambda _: None) -> None:
        self.batches: list[Batch] = []
        self.script = script
        self.lock = threading.Lock()

    def send(self, batch: Batch, timeout: float) -> Sequence[EventResult]:
        with self.lock:
            self.batches.append(batch)
        error = self.script(batch)
        if error is not None:
            raise error
        return [
            EventResult(i.id, b'"reject"' not in i.payload, "bad" if b'"reject"' in i.payload else None)
            for i in batch.items
        ]

    def close(self) -> None:
        return None

    @property
    def ids(self) -> list[str]:
        with self.lock:
            return [i for b in self.batches for i in b.ids]


def fake_client(transport: FakeTransport, **options: object) -> Revos:
    return Revos(
        api_key="k",
        transport_factory=lambda _: transport,
        max_batch_wait=0.02,  # type: ignore[arg-type]
        backoff_base=0.001,
        backoff_max=0.01,
        **options,
    )


def test_track_returns_a_fresh_id_or_the_given_one() -> None:
    with fake_client(FakeTransport()) as revos:
        assert revos.track("c1", "llm.tokens") != revos.track("c1", "llm.tokens")
        assert revos.track("c1", "llm.tokens", id="mine-1") == "mine-1"


def test_track_raises_only_invalid_event_for_bad_calls_and_enqueues_nothing() -> None:
    transport = FakeTransport()
    with fake_client(transport, max_batch_bytes=4096) as revos:
        with pytest.raises(InvalidEvent):
            revos.track("", "llm.tokens")
        with pytest.raises(InvalidEvent, match="bytes"):
            revos.track("c1", "llm.tokens", properties={f"p{i}": "x" * 900 for i in range(5)})
        assert revos.flush(5)
        assert revos.stats()["enqueued"] == 0 and transport.ids == []


def test_meter_emits_one_event_per_return_computed_from_the_result() -> None:
    transport = FakeTransport()
    with fake_client(transport) as revos:

        @revos.meter(
            "research.completed",
            customer=lambda report: report["customer"],
            quantity=lambda report: Decimal(report["pages"]),
            properties={"tier": "pro"},
        )
        def research(topic: str, fail: bool = False) -> dict[str, str]:
            if fail:
                raise RuntimeError("no result")
            return {"customer": f"cust_{topic}", "pages": "12"}

        assert research("a") == {"customer": "cust_a", "pages": "12"}
        with pytest.raises(RuntimeError):
            research("b", fail=True)
        assert research.__name__ == "research"
        assert revos.flush(5)
    [event] = [Event.from_payload(i.payload) for b in transport.batches for i in b.items]
    assert (event.customer, event.type, event.quantity, event.properties) == (
        "cust_a",
        "research.completed",
        Decimal(12),
        {"tier": "pro"},
    )


def test_meter_never_fails_a_successful_call_because_metering_failed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with fake_client(FakeTransport()) as revos:

        @revos.meter("research.completed", customer=lambda result: result.missing)
        def work() -> int:
            return 7

        assert work() == 7
        assert revos.stats()["invalid"] == 1
    assert "could not meter 'research.completed'" in caplog.text


async def test_meter_wraps_coroutine_functions() -> None:
    transport = FakeTransport()
    revos = fake_client(transport)

    @revos.meter("chat.reply", customer="cust_1")
    async def reply() -> str:
        await asyncio.sleep(0)
        return "hi"

    assert await reply() == "hi"
    assert await asyncio.to_thread(revos.flush, 5)
    revos.close()
    assert len(transport.ids) == 1


def test_track_is_thread_safe_and_never_duplicates() -> None:
    transport = FakeTransport()
    # 16,000 events arrive faster than a busy machine may send them: blocking (not the default, dropping)
    # when the queue is full keeps this a test of thread safety rather than of the overflow policy.
    with fake_client(transport, overflow="block", block_timeout=30.0) as revos:
        tracked: list[list[str]] = [[] for _ in range(8)]
        threads = [
            threading.Thread(target=lambda out=out: out.extend(revos.track("c", "t") for _ in range(2000)))
            for out in tracked
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert revos.flush(10)
    everything = [i for out in tracked for i in out]
    assert sorted(transport.ids) == sorted(everything) and len(set(everything)) == 16_000
    assert revos.stats()["dropped"] == 0


def test_on_error_failures_are_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    def broken(events: list[Event], error: RevosError) -> None:
        raise RuntimeError("callback bug")

    with fake_client(FakeTransport(), on_error=broken) as revos:
        revos.track("c1", "t", properties={"reject": True})
        revos.track("c1", "t")
        assert revos.flush(5)
        assert revos.stats()["rejected"] == 1 and revos.stats()["sent"] == 1
    assert "on_error callback raised" in caplog.text


def test_a_transport_that_breaks_its_contract_is_retried(caplog: pytest.LogCaptureFixture) -> None:
    calls = iter([RuntimeError("bug"), None])

    class Flaky(FakeTransport):
        def send(self, batch: Batch, timeout: float) -> Sequence[EventResult]:
            error = next(calls, None)
            if error is not None:
                raise error
            return super().send(batch, timeout)

    transport = Flaky()
    with fake_client(transport) as revos:
        event_id = revos.track("c1", "t")
        assert revos.flush(5)
    assert transport.ids == [event_id]
    assert "unexpected error" in caplog.text


def ledger() -> Ledger:
    return Ledger(Stats(), None, None)


def batch(n: int) -> Batch:
    from revos_sdk._delivery.batch import Pending

    return Batch(tuple(Pending(f"e{i}", b'{"id":"e%d","customer":"c","type":"t"}' % i) for i in range(n)))


def test_delivery_splits_on_413_until_single_events() -> None:
    delivery = Delivery(batch(5), Backoff(), ledger(), retry_deadline=None)
    assert delivery.failed(DeliveryError("too big", status=413)) is None
    assert [len(delivery.next() or ())] == [2]
    delivery.failed(DeliveryError("too big", status=413))
    assert len(delivery.next() or ()) == 1
    assert delivery.failed(DeliveryError("too big", status=413)) is None  # a lone event cannot shrink: failed
    assert len(delivery.remaining()) == 4


def test_delivery_retries_transient_errors_and_honours_retry_after() -> None:
    stats = Stats()
    delivery = Delivery(
        batch(3), Backoff(base=0.01, cap=0.02), Ledger(stats, None, None), retry_deadline=None
    )
    delay = delivery.failed(DeliveryError("busy", status=429, retry_after=2.5))
    assert delay == 2.5 and len(delivery.remaining()) == 3 and stats.snapshot()["retried"] == 3
    assert delivery.succeeded([EventResult(f"e{i}", True) for i in range(3)]) is None
    assert delivery.next() is None and stats.snapshot()["sent"] == 3


def test_delivery_resends_only_events_without_a_result() -> None:
    delivery = Delivery(batch(3), Backoff(base=0.01), ledger(), retry_deadline=None)
    assert delivery.succeeded([EventResult("e0", True), EventResult("e2", False, "bad")]) is not None
    assert [i.id for i in delivery.remaining()] == ["e1"]


def test_delivery_gives_up_after_the_retry_deadline() -> None:
    stats = Stats()
    delivery = Delivery(batch(2), Backoff(base=0.001), Ledger(stats, None, None), retry_deadline=0.0)
    delivery.failed(DeliveryError("down"))
    time.sleep(0.01)  # Let the (zero-length) deadline pass: this is the clock under test, not a wait.
    assert delivery.failed(DeliveryError("down")) is None
    assert delivery.next() is None and stats.snapshot()["failed"] == 2


def test_async_client_shares_the_contract() -> None:
    with pytest.raises(InvalidEvent):
        AsyncRevos(api_key="k").track("c1", "")
    assert isinstance(Config.from_env("k", env={}), Config)
