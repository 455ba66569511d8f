"""The Kafka transports, for services inside the cluster; importing this module needs the `kafka` extra."""

from __future__ import annotations

from revos_sdk._transports.kafka import AsyncKafkaTransport, KafkaTransport

__all__ = ["AsyncKafkaTransport", "KafkaTransport"]
