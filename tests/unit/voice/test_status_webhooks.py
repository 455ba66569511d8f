"""Status webhooks: one stable id per call and type, the body receivers get, and the retry schedule."""

from __future__ import annotations

from datetime import timedelta

from call_facts import T0, answered_call

from pipeline.voice import status_webhooks
from pipeline.voice.status_webhooks import Backoff
from pipeline.voice.summary import ENDED, STARTED, fold


def test_a_webhook_id_is_stable_per_call_and_type() -> None:
    one = status_webhooks.webhook_id("t1", "CA1", ENDED)
    assert one == status_webhooks.webhook_id("t1", "CA1", ENDED) and one.startswith("msg_") and len(one) == 28
    others = {
        status_webhooks.webhook_id("t1", "CA1", STARTED),
        status_webhooks.webhook_id("t2", "CA1", ENDED),
        status_webhooks.webhook_id("t1", "CA2", ENDED),
    }
    assert one not in others and len(others) == 3


def test_the_body_names_the_call_and_links_its_transcript() -> None:
    call = None
    for e in answered_call("CA1"):
        call = fold(call, e)
    assert call is not None
    body = status_webhooks.payload(ENDED, T0 + timedelta(seconds=90), call, "https://revos.example.com")
    assert body == {
        "type": "call.ended",
        "timestamp": "2026-03-02T09:31:30.000Z",
        "data": {
            "call_sid": "CA1", "agent_id": "a1", "state": "completed", "end_reason": "agent_ended",
            "from": "+14155550111", "to": "+14155550100", "duration_seconds": None,
            "transcript_url": "https://revos.example.com/v1/calls/CA1",
        },
    }  # fmt: skip
    assert status_webhooks.payload(ENDED, T0, call)["data"]["transcript_url"] == "/v1/calls/CA1"


def test_the_backoff_starts_within_seconds_grows_and_is_capped_at_an_hour() -> None:
    b = Backoff()
    assert 2.5 <= b.delay(1, 0.0) <= b.delay(1, 0.999) <= 5.0
    lows = [b.delay(n, 0.0) for n in range(1, 40)]
    assert lows == sorted(lows) and lows[1] == 2 * lows[0]
    assert max(b.delay(n, 0.999) for n in range(1, 60)) <= 3600.0
    assert b.delay(1000, 0.5) <= 3600.0  # no overflow far along


def test_a_delivery_is_tried_for_at_least_a_day() -> None:
    b = Backoff()
    assert not b.gives_up(23.9 * 3600) and b.gives_up(24 * 3600)
    # Retries with the longest jitter still reach the day's end (about 30 attempts, none skipped).
    elapsed, attempts = 0.0, 0
    while not b.gives_up(elapsed):
        attempts += 1
        elapsed += b.delay(attempts, 0.999)
    assert 20 <= attempts <= 60
