"""Retry timing for model providers."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime

from pipeline.chat.backoff import Backoff, parse_retry_after


def test_full_jitter_under_an_exponential_ceiling() -> None:
    backoff = Backoff(base=0.5, cap=8.0)
    assert [backoff.ceiling(n) for n in (1, 2, 3, 4, 5, 6, 1000)] == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    assert backoff.delay(3, rand=lambda: 0.5) == 1.0
    assert backoff.delay(3, rand=lambda: 0.0) == 0.0


def test_retry_after_is_a_floor() -> None:
    backoff = Backoff(base=0.5, cap=8.0)
    assert backoff.delay(1, retry_after=1.0, rand=lambda: 0.9) == 1.0
    assert backoff.delay(5, retry_after=1.0, rand=lambda: 0.5) == 4.0


def test_parse_retry_after_seconds_and_http_dates() -> None:
    now = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    later = format_datetime(datetime(2026, 1, 2, 3, 4, 35, tzinfo=UTC), usegmt=True)
    assert parse_retry_after(later, now=now.timestamp()) == 30.0
    assert parse_retry_after("1", now=0) == 1.0
    assert parse_retry_after(" 2.5 ", now=0) == 2.5
    assert parse_retry_after("-4", now=0) == 0.0
    assert parse_retry_after(format_datetime(now, usegmt=True), now=now.timestamp() + 60) == 0.0
    assert parse_retry_after("soon", now=0) is None
    assert parse_retry_after(None, now=0) is None
