"""Revos SDK: meter usage with one line, delivered in batches that survive outages and exits."""

from __future__ import annotations

from revos_sdk._version import __version__
from revos_sdk.aio import AsyncRevos
from revos_sdk.api import Balance, BurnRule, BurnTableVersion, Grant
from revos_sdk.batch import Batch, Pending
from revos_sdk.client import Revos
from revos_sdk.config import Config
from revos_sdk.errors import (
    ApiError,
    DeliveryError,
    EventDropped,
    EventRejected,
    InvalidEvent,
    RevosError,
    is_retryable,
)
from revos_sdk.event import Event
from revos_sdk.http import AsyncHttpTransport, HttpTransport
from revos_sdk.transport import AsyncNullTransport, AsyncTransport, EventResult, NullTransport, Transport

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
