"""Which transport a configuration delivers through: the gateway over HTTP, or Kafka with the extra."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from revos_sdk._config import Config
from revos_sdk._transports.base import AsyncTransport, Transport
from revos_sdk._transports.http import AsyncHttpTransport, HttpTransport

if TYPE_CHECKING:
    from types import ModuleType

KAFKA_EXTRA_HINT = "the Kafka transport needs the 'kafka' extra: pip install 'revos-sdk[kafka]'"


def _kafka_module() -> ModuleType:
    # Imported only when configured: the core SDK neither needs nor loads aiokafka and fastavro.
    try:
        from revos_sdk._transports import kafka
        from revos_sdk._transports.avro import usage_batch_writer, usage_recorded_writer
    except ImportError as exc:
        raise ImportError(f"{KAFKA_EXTRA_HINT} ({exc})") from exc
    usage_recorded_writer()  # parse the packaged schemas now, not inside the first track()
    usage_batch_writer()
    return kafka


def sync_factory(config: Config) -> Callable[[Config], Transport]:
    """The default transport factory for `Revos`; raises ImportError now if the extra is missing."""
    if config.transport == "kafka":
        factory: Callable[[Config], Transport] = _kafka_module().KafkaTransport
        return factory
    return HttpTransport


def async_factory(config: Config) -> Callable[[Config], AsyncTransport]:
    """The default transport factory for `AsyncRevos`; raises ImportError now if the extra is missing."""
    if config.transport == "kafka":
        factory: Callable[[Config], AsyncTransport] = _kafka_module().AsyncKafkaTransport
        return factory
    return AsyncHttpTransport
