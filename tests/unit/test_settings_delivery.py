"""Delivery settings: where an acknowledgement rests, and how long a clean stop drains."""

from __future__ import annotations

import pytest

from pipeline.dead_letters import dead_letter_id
from pipeline.errors import ConfigurationError
from pipeline.settings import Settings


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, True),  # the embedded broker keeps nothing across a restart: PostgreSQL keeps the promise
        ({"REVOS_OUTBOX": "auto"}, True),
        ({"REVOS_KAFKA_BOOTSTRAP": "kafka:9092"}, False),  # a replicated Kafka keeps it alone
        ({"REVOS_KAFKA_BOOTSTRAP": "kafka:9092", "REVOS_OUTBOX": "on"}, True),
        ({"REVOS_OUTBOX": "off"}, False),
    ],
)
def test_the_outbox_is_on_exactly_when_the_broker_is_embedded_unless_told(
    env: dict[str, str], expected: bool
) -> None:
    assert Settings.from_env({"REVOS_HOME": "/tmp/x", **env}).uses_outbox is expected


def test_a_garbled_outbox_setting_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="REVOS_OUTBOX"):
        Settings.from_env({"REVOS_OUTBOX": "maybe"})


def test_the_drain_bound_is_read() -> None:
    assert Settings.from_env({}).drain_seconds == 60.0
    assert Settings.from_env({"REVOS_DRAIN_SECONDS": "5"}).drain_seconds == 5.0


def test_two_logs_records_at_one_offset_get_two_dead_letters() -> None:
    """A broker that lost its log numbers anew: a new record at an old offset is not the old one."""
    first = dead_letter_id("billing.charge", "revos.billing", 3, 17, b"old record")
    assert first == dead_letter_id("billing.charge", "revos.billing", 3, 17, b"old record")
    assert first != dead_letter_id("billing.charge", "revos.billing", 3, 17, b"new record")
