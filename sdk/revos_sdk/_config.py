"""Client settings: one frozen object, read from arguments and the environment once."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal, TypedDict

DEFAULT_BASE_URL = "http://127.0.0.1:8080"
# The platform's usage topic (pipeline.topics.BILLING), which its billing workers consume.
DEFAULT_KAFKA_TOPIC = "revos.billing"
# Producer settings that define the transport's semantics (durability, record bytes, and the partition of
# a key, shared with the gateway's records); kafka_options may not change them.
RESERVED_KAFKA_OPTIONS = frozenset(
    {
        "bootstrap_servers",
        "acks",
        "key_serializer",
        "value_serializer",
        "partitioner",
        "loop",
        "transactional_id",
    }
)

# The gateway refuses more than 1000 events or 1 MiB per request.
GATEWAY_MAX_EVENTS = 1000
GATEWAY_MAX_BYTES = 1 << 20

Overflow = Literal["drop", "block"]
TransportName = Literal["http", "kafka"]


@dataclass(frozen=True, slots=True)
class Config:
    """Everything that tunes a client; validated on construction.

    Events go to the gateway over HTTP unless `kafka_bootstrap` is set: then they are produced straight
    to `kafka_topic` as Avro `UsageRecorded` records of tenant `tenant_id` (and `api_key` is only needed
    by the API helpers).
    """

    api_key: str
    base_url: str = DEFAULT_BASE_URL
    # Batching: a batch is sent at whichever limit it reaches first.
    max_batch_events: int = 100
    max_batch_bytes: int = 1_000_000
    max_batch_wait: float = 0.5
    # While more events are already queued, a batch may grow to this many: fewer, larger requests.
    max_backlog_events: int = GATEWAY_MAX_EVENTS
    # Memory bound and what track() does when it is reached.
    max_queue_size: int = 10_000
    overflow: Overflow = "drop"
    block_timeout: float = 1.0
    # Durability: a directory for the write-ahead spool, or None for memory only.
    spool_dir: Path | None = None
    spool_fsync_interval: float = 0.2
    spool_segment_events: int = 5_000
    # HTTP and retries.
    request_timeout: float = 10.0
    backoff_base: float = 0.5
    backoff_max: float = 30.0
    max_retry_after: float = 300.0
    retry_deadline: float = 600.0
    gzip_threshold: int | None = 16 * 1024
    # Kafka transport, for services inside the cluster: no gateway, so no API key and no authentication.
    kafka_bootstrap: str | None = None
    tenant_id: str | None = None
    kafka_topic: str = DEFAULT_KAFKA_TOPIC
    kafka_options: Mapping[str, Any] = field(default_factory=dict, hash=False)
    # Shutdown: how long close() and the atexit hook may spend delivering.
    exit_timeout: float = 5.0

    @property
    def transport(self) -> TransportName:
        """Where events go: the gateway ("http", the default) or the usage topic ("kafka")."""
        return "http" if self.kafka_bootstrap is None else "kafka"

    def __post_init__(self) -> None:
        if not isinstance(self.api_key, str):
            raise ValueError("api_key must be a string")
        if self.kafka_bootstrap is None:
            if not self.api_key:
                raise ValueError("an API key is required: pass api_key=... or set REVOS_API_KEY")
        else:
            self._check_kafka()
        if not self.base_url.startswith(("http://", "https://")):
            raise ValueError(f"base_url must start with http:// or https://, got {self.base_url!r}")
        if not 1 <= self.max_batch_events <= GATEWAY_MAX_EVENTS:
            raise ValueError(f"max_batch_events must be within 1..{GATEWAY_MAX_EVENTS}")
        if not 1 <= self.max_backlog_events <= GATEWAY_MAX_EVENTS:
            raise ValueError(f"max_backlog_events must be within 1..{GATEWAY_MAX_EVENTS}")
        if not 1024 <= self.max_batch_bytes <= GATEWAY_MAX_BYTES:
            raise ValueError(f"max_batch_bytes must be within 1024..{GATEWAY_MAX_BYTES}")
        if self.max_queue_size < 1 or self.spool_segment_events < 1:
            raise ValueError("max_queue_size and spool_segment_events must be positive")
        if self.overflow not in ("drop", "block"):
            raise ValueError(f"overflow must be 'drop' or 'block', got {self.overflow!r}")
        for name in (
            "max_batch_wait",
            "block_timeout",
            "spool_fsync_interval",
            "request_timeout",
            "backoff_base",
            "backoff_max",
            "max_retry_after",
            "retry_deadline",
            "exit_timeout",
        ):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")
        if self.spool_dir is not None and not isinstance(self.spool_dir, Path):
            object.__setattr__(self, "spool_dir", Path(self.spool_dir))
        object.__setattr__(self, "base_url", self.base_url.rstrip("/"))

    def _check_kafka(self) -> None:
        if not isinstance(self.kafka_bootstrap, str) or not self.kafka_bootstrap.strip():
            raise ValueError("kafka_bootstrap must be 'host:port[,host:port...]'")
        tenant = self.tenant_id
        # The gateway would take the tenant from the API key; here it is configuration, so check it as
        # strictly as the gateway checks identifiers (it is also half of every record key).
        if not isinstance(tenant, str) or not tenant.strip() or len(tenant) > 200:
            raise ValueError(
                "the Kafka transport needs the tenant's id: pass tenant_id=... or set REVOS_TENANT_ID"
            )
        if not isinstance(self.kafka_topic, str) or not self.kafka_topic:
            raise ValueError("kafka_topic must be a topic name")
        if not isinstance(self.kafka_options, Mapping):
            raise ValueError("kafka_options must be a mapping of AIOKafkaProducer keyword arguments")
        reserved = sorted(RESERVED_KAFKA_OPTIONS & set(self.kafka_options))
        if reserved:
            raise ValueError(f"kafka_options may not set {', '.join(reserved)}: the transport fixes them")
        object.__setattr__(self, "kafka_options", MappingProxyType(dict(self.kafka_options)))

    @classmethod
    def from_env(
        cls,
        api_key: str | None = None,
        base_url: str | None = None,
        env: Mapping[str, str] | None = None,
        **options: object,
    ) -> Config:
        """Build from arguments, falling back to REVOS_API_KEY / REVOS_BASE_URL / REVOS_SPOOL_DIR.

        The Kafka transport is chosen by a `kafka_bootstrap` argument, or by REVOS_KAFKA_BOOTSTRAP when a
        tenant id is also given (`tenant_id` or REVOS_TENANT_ID; the platform's own processes set only
        REVOS_KAFKA_BOOTSTRAP) and neither `base_url` nor `kafka_bootstrap=None` asks for HTTP.
        """
        env = os.environ if env is None else env
        if "spool_dir" not in options and env.get("REVOS_SPOOL_DIR"):
            options["spool_dir"] = Path(env["REVOS_SPOOL_DIR"])
        if "tenant_id" not in options and env.get("REVOS_TENANT_ID"):
            options["tenant_id"] = env["REVOS_TENANT_ID"]
        if "kafka_topic" not in options and env.get("REVOS_KAFKA_TOPIC"):
            options["kafka_topic"] = env["REVOS_KAFKA_TOPIC"]
        if (
            "kafka_bootstrap" not in options
            and base_url is None
            and env.get("REVOS_KAFKA_BOOTSTRAP")
            and options.get("tenant_id")
        ):
            options["kafka_bootstrap"] = env["REVOS_KAFKA_BOOTSTRAP"]
        unknown = set(options) - OPTION_NAMES
        if unknown:
            raise TypeError(f"unknown Revos option(s): {', '.join(sorted(unknown))}")
        return cls(
            api_key=api_key if api_key is not None else env.get("REVOS_API_KEY", ""),
            base_url=base_url if base_url is not None else env.get("REVOS_BASE_URL", DEFAULT_BASE_URL),
            **options,  # type: ignore[arg-type]
        )


class Options(TypedDict, total=False):
    """Keyword options accepted by `Revos(...)` and `AsyncRevos(...)`; see `Config`."""

    max_batch_events: int
    max_batch_bytes: int
    max_batch_wait: float
    max_backlog_events: int
    max_queue_size: int
    overflow: Overflow
    block_timeout: float
    spool_dir: Path | str | None
    spool_fsync_interval: float
    spool_segment_events: int
    request_timeout: float
    backoff_base: float
    backoff_max: float
    max_retry_after: float
    retry_deadline: float
    gzip_threshold: int | None
    kafka_bootstrap: str | None
    tenant_id: str | None
    kafka_topic: str
    kafka_options: Mapping[str, Any]
    exit_timeout: float


OPTION_NAMES = frozenset(f.name for f in fields(Config)) - {"api_key", "base_url"}
