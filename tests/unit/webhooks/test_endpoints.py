"""An endpoint's fields from API input, with stable codes for what is refused."""

from __future__ import annotations

import pytest

from pipeline.errors import ValidationError
from pipeline.webhooks import endpoints


def test_a_new_endpoint_needs_a_url_and_known_event_types_in_one_order() -> None:
    made = endpoints.creation(
        {"url": "https://hooks.example.com/r", "event_types": ["call.ended", "grant.expired", "call.ended"]}
    )
    assert made.url == "https://hooks.example.com/r" and made.enabled is True
    assert made.event_types == ("grant.expired", "call.ended")
    assert made.description is None


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ([], "invalid_type"),
        ({"url": "https://x.example"}, "invalid_webhook"),
        ({"url": "ftp://x.example", "event_types": ["grant.expired"]}, "invalid_webhook"),
        ({"url": "https://x.example", "event_types": []}, "invalid_webhook"),
        ({"url": "https://x.example", "event_types": [1]}, "invalid_webhook"),
        ({"url": "https://x.example", "event_types": ["grant.made"]}, "unknown_event_type"),
        ({"url": "https://x.example", "event_types": ["grant.expired"], "secret": "s"}, "unknown_field"),
        (
            {"url": "https://x.example", "event_types": ["grant.expired"], "description": "d" * 501},
            "invalid_webhook",
        ),
    ],
)
def test_what_a_new_endpoint_refuses(body: object, code: str) -> None:
    with pytest.raises(ValidationError) as refused:
        endpoints.creation(body)
    assert refused.value.code == code


def test_a_change_names_only_what_it_changes() -> None:
    changed = endpoints.change({"enabled": True})
    assert (changed.enabled, changed.url, changed.event_types, changed.description_given) == (
        True,
        None,
        None,
        False,
    )
    cleared = endpoints.change({"description": None})
    assert cleared.description_given and cleared.description is None
    for body, code in (
        ({}, "invalid_webhook"),
        ({"enabled": "yes"}, "invalid_webhook"),
        ({"x": 1}, "unknown_field"),
    ):
        with pytest.raises(ValidationError) as refused:
            endpoints.change(body)
        assert refused.value.code == code


def test_the_call_events_are_named_as_the_status_webhooks_name_them() -> None:
    assert {"call.started", "call.ended", "call.failed"} <= set(endpoints.EVENT_TYPES)
    assert endpoints.secret_context("t1", "we_1") != endpoints.secret_context("t2", "we_1")
