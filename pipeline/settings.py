"""Settings, read once from the environment into one frozen object."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from pipeline.errors import ConfigurationError


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ConfigurationError(f"{name} must be an integer, got {raw!r}") from exc


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything configurable about one Revos installation."""

    home: Path
    gateway_host: str = "127.0.0.1"
    gateway_port: int = 8080
    broker_port: int = 9092
    postgres_port: int = 55432
    kafka_bootstrap: str | None = None
    database_url: str | None = None
    partitions: int = 8
    workers: int = 1
    worker_id: int = 0
    consumer_group: str = "revos"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        return cls(
            home=Path(env.get("REVOS_HOME") or "./.revos").resolve(),
            gateway_host=env.get("REVOS_GATEWAY_HOST") or "127.0.0.1",
            gateway_port=_int(env, "REVOS_GATEWAY_PORT", 8080),
            broker_port=_int(env, "REVOS_BROKER_PORT", 9092),
            postgres_port=_int(env, "REVOS_POSTGRES_PORT", 55432),
            kafka_bootstrap=env.get("REVOS_KAFKA_BOOTSTRAP") or None,
            database_url=env.get("REVOS_DATABASE_URL") or None,
            partitions=_int(env, "REVOS_PARTITIONS", 8),
            workers=_int(env, "REVOS_WORKERS", 1),
            consumer_group=env.get("REVOS_CONSUMER_GROUP") or "revos",
        )

    @property
    def embedded_broker(self) -> bool:
        return self.kafka_bootstrap is None

    @property
    def embedded_database(self) -> bool:
        return self.database_url is None

    @property
    def bootstrap_servers(self) -> str:
        return self.kafka_bootstrap or f"127.0.0.1:{self.broker_port}"

    @property
    def dsn(self) -> str:
        return self.database_url or f"postgresql://postgres@127.0.0.1:{self.postgres_port}/revos"
