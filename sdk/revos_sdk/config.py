"""Client settings: one frozen object, read from arguments and the environment once."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Literal, TypedDict

DEFAULT_BASE_URL = "http://127.0.0.1:8080"

# The gateway refuses more than 1000 events or 1 MiB per request.
GATEWAY_MAX_EVENTS = 1000
GATEWAY_MAX_BYTES = 1 << 20

Overflow = Literal["drop", "block"]


@dataclass(frozen=True, slots=True)
class Config:
    """Everything that tunes a client; validated on construction."""

    api_key: str
    base_url: str = DEFAULT_BASE_URL
    # Batching: a batch is sent at whichever limit it reaches first.
    max_batch_events: int = 100
    max_batch_bytes: int = 1_000_000
    max_batch_wait: float = 0.5
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
    # Shutdown: how long close() and the atexit hook may spend delivering.
    exit_timeout: float = 5.0

    def __post_init__(self) -> None:
        if not isinstance(self.api_key, str) or not self.api_key:
            raise ValueError("an API key is required: pass api_key=... or set REVOS_API_KEY")
        if not self.base_url.startswith(("http://", "https://")):
            raise ValueError(f"base_url must start with http:// or https://, got {self.base_url!r}")
        if not 1 <= self.max_batch_events <= GATEWAY_MAX_EVENTS:
            raise ValueError(f"max_batch_events must be within 1..{GATEWAY_MAX_EVENTS}")
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

    @classmethod
    def from_env(
        cls,
        api_key: str | None = None,
        base_url: str | None = None,
        env: Mapping[str, str] | None = None,
        **options: object,
    ) -> Config:
        """Build from arguments, falling back to REVOS_API_KEY / REVOS_BASE_URL / REVOS_SPOOL_DIR."""
        env = os.environ if env is None else env
        if "spool_dir" not in options and env.get("REVOS_SPOOL_DIR"):
            options["spool_dir"] = Path(env["REVOS_SPOOL_DIR"])
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
    exit_timeout: float


OPTION_NAMES = frozenset(f.name for f in fields(Config)) - {"api_key", "base_url"}
