"""A delivery's stable id and Standard Webhooks body, and when an endpoint that keeps failing is disabled."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pipeline.webhooks.deliveries import DisablePolicy, payload, webhook_id

T0 = datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)


def test_the_id_is_stable_per_endpoint_and_fact_and_differs_otherwise() -> None:
    one = webhook_id("t1", "we_1", "grant.expired", "c1\x1fg1")
    assert one == webhook_id("t1", "we_1", "grant.expired", "c1\x1fg1") and one.startswith("msg_")
    others = {
        webhook_id("t2", "we_1", "grant.expired", "c1\x1fg1"),
        webhook_id("t1", "we_2", "grant.expired", "c1\x1fg1"),
        webhook_id("t1", "we_1", "dead_letter.created", "c1\x1fg1"),
        webhook_id("t1", "we_1", "grant.expired", "c1\x1fg2"),
    }
    assert one not in others and len(others) == 4


def test_the_body_follows_the_standard_webhooks_convention() -> None:
    assert payload("grant.expired", T0, {"grant_id": "g1"}) == {
        "type": "grant.expired",
        "timestamp": "2026-03-01T12:00:00.123Z",
        "data": {"grant_id": "g1"},
    }


def test_an_endpoint_is_disabled_only_after_failing_long_enough_and_often_enough() -> None:
    policy = DisablePolicy(after=3600.0, min_failures=5)
    assert not policy.disables(T0, 100, T0 + timedelta(minutes=59))
    assert not policy.disables(T0, 4, T0 + timedelta(hours=2))
    assert policy.disables(T0, 5, T0 + timedelta(hours=1))
    assert DisablePolicy().after == 24 * 3600.0
