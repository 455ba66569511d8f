"""When a batch closes, how bodies are built, and how backoff is computed (no I/O)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from revos_sdk._delivery.backoff import Backoff, parse_retry_after
from revos_sdk._delivery.batch import BODY_OVERHEAD, Batch, BatchBuilder, BatchPolicy, Pending


def item(n: int, size: int = 20) -> Pending:
    body = json.dumps({"id": f"e{n}", "pad": "x" * max(0, size - 20)}).encode()
    return Pending(f"e{n}", body)


def test_a_batch_is_full_at_max_events() -> None:
    builder = BatchBuilder(BatchPolicy(max_events=3, max_bytes=10_000, max_wait=1.0))
    for n in range(3):
        assert not builder.full and builder.fits(item(n))
        builder.add(item(n), now=0.0)
    assert builder.full and builder.due(0.0) and not builder.fits(item(9))


def test_a_batch_is_due_max_wait_after_its_first_event() -> None:
    builder = BatchBuilder(BatchPolicy(max_events=100, max_bytes=10_000, max_wait=0.5))
    assert not builder.due(100.0)  # empty batches are never due
    builder.add(item(0), now=10.0)
    builder.add(item(1), now=10.4)
    assert not builder.due(10.49) and builder.due(10.5)


def test_an_event_that_would_break_the_byte_limit_starts_the_next_batch() -> None:
    policy = BatchPolicy(max_events=100, max_bytes=1100, max_wait=1.0)
    builder = BatchBuilder(policy)
    builder.add(item(0, 500), 0.0)
    builder.add(item(1, 500), 0.0)
    assert not builder.fits(item(2, 500))
    batch = builder.take()
    assert len(batch) == 2 and len(builder) == 0 and builder.deadline is None
    assert len(batch.body()) == builder_size(batch) <= policy.max_bytes


def builder_size(batch: Batch) -> int:
    return BODY_OVERHEAD + sum(len(i.payload) for i in batch.items) + len(batch) - 1


def test_size_accounting_matches_the_real_body() -> None:
    builder = BatchBuilder(BatchPolicy())
    for n in range(7):
        builder.add(item(n, 30 + n), 0.0)
    size = builder.size
    body = builder.take().body()
    assert size == len(body)
    assert [e["id"] for e in json.loads(body)["events"]] == [f"e{n}" for n in range(7)]


def test_a_lone_oversized_event_still_fits_an_empty_batch() -> None:
    # It was refused by track() already if it exceeds max_event_bytes; the builder never deadlocks.
    builder = BatchBuilder(BatchPolicy(max_bytes=1024))
    assert builder.fits(item(0, 2000))
    assert BatchPolicy(max_bytes=1024).max_event_bytes == 1024 - BODY_OVERHEAD


def test_split_halves_in_order() -> None:
    batch = Batch(tuple(item(n) for n in range(5)))
    left, right = batch.split()
    assert left.ids + right.ids == batch.ids and len(left) == 2


def test_backoff_ceiling_doubles_up_to_the_cap() -> None:
    backoff = Backoff(base=0.5, cap=4.0)
    assert [backoff.ceiling(a) for a in range(1, 7)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    assert backoff.ceiling(10_000) == 4.0


def test_full_jitter_spans_zero_to_the_ceiling() -> None:
    backoff = Backoff(base=0.5, cap=30.0)
    assert backoff.delay(3, rand=lambda: 0.0) == 0.0
    assert backoff.delay(3, rand=lambda: 0.999) == pytest.approx(1.998)


def test_retry_after_is_a_floor_and_is_capped() -> None:
    backoff = Backoff(base=0.5, cap=30.0, max_retry_after=60.0)
    assert backoff.delay(1, retry_after=2.0, rand=lambda: 0.5) == 2.0
    assert backoff.delay(8, retry_after=0.1, rand=lambda: 0.5) == 15.0
    assert backoff.delay(1, retry_after=86_400, rand=lambda: 0.5) == 60.0


def test_parse_retry_after() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    later = format_datetime(now + timedelta(seconds=30), usegmt=True)
    assert parse_retry_after("5") == 5.0
    assert parse_retry_after(" 1.5 ") == 1.5
    assert parse_retry_after("-3") == 0.0
    assert parse_retry_after(later, now=now.timestamp()) == pytest.approx(30.0)
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None


def test_a_batch_grows_to_the_backlog_limit_only_while_events_are_waiting() -> None:
    from revos_sdk._delivery.batch import BatchBuilder, BatchPolicy, Pending

    item = Pending("id", b"{}")
    builder = BatchBuilder(BatchPolicy(max_events=3, max_bytes=10_000, max_wait=1.0, backlog_events=5))
    builder.backlog = True
    for _ in range(5):
        assert builder.fits(item)
        builder.add(item, 0.0)
    assert not builder.fits(item) and builder.full  # the backlog limit holds
    builder.backlog = False
    assert builder.due(0.0)  # the backlog is gone: the batch goes at once, not after max_wait
    quiet = BatchBuilder(BatchPolicy(max_events=3, max_bytes=10_000, max_wait=1.0, backlog_events=5))
    for _ in range(3):
        quiet.add(item, 0.0)
    assert quiet.due(0.0) and not quiet.fits(item)  # without a backlog, max_events closes the batch
