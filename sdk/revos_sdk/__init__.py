"""Revos SDK: meter usage with one line, delivered in batches that survive outages and exits."""

from __future__ import annotations

from revos_sdk._client.api import Balance, BurnRule, BurnTableVersion, Grant
from revos_sdk._client.async_revos import AsyncRevos
from revos_sdk._client.revos import Revos
from revos_sdk._config import Config
from revos_sdk._delivery.batch import Batch, Pending
from revos_sdk._errors import (
    ApiError,
    DeliveryError,
    EventDropped,
    EventRejected,
    InvalidEvent,
    RevosError,
    is_retryable,
)
from revos_sdk._event import Event
from revos_sdk._transports.base import (
    AsyncNullTransport,
    AsyncTransport,
    EventResult,
    NullTransport,
    Transport,
)
from revos_sdk._transports.http import AsyncHttpTransport, HttpTransport
from revos_sdk._version import __version__

__all__ = [
    "ApiError",
    "AsyncHttpTransport",
    "AsyncNullTransport",
    "AsyncRevos",
    "AsyncTransport",
    "Balance",
    "Batch",
    "BurnRule",
    "BurnTableVersion",
    "Config",
    "DeliveryError",
    "Event",
    "EventDropped",
    "EventRejected",
    "EventResult",
    "Grant",
    "HttpTransport",
    "InvalidEvent",
    "NullTransport",
    "Pending",
    "Revos",
    "RevosError",
    "Transport",
    "__version__",
    "is_retryable",
]
