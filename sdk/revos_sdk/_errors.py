"""The SDK's exceptions: one root, data-carrying, classified by `is_retryable`."""

from __future__ import annotations

RETRYABLE_STATUSES = frozenset({408, 429})


class RevosError(Exception):
    """Root of every exception the SDK raises or hands to `on_error`."""


class InvalidEvent(RevosError, ValueError):
    """A `track()` call was malformed; raised to the caller, nothing was enqueued."""


class DeliveryError(RevosError):
    """A request to Revos failed as a whole; `status` is None when no HTTP answer arrived.

    `retryable` overrides the classification by status, for failures that are not HTTP (a broker's
    authorization error, say, gets no status but must not be retried).
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        retry_after: float | None = None,
        retryable: bool | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.retry_after = retry_after
        self.retryable = retryable

    def __str__(self) -> str:
        where = f"HTTP {self.status}" if self.status is not None else "no response"
        code = f" [{self.code}]" if self.code else ""
        return f"{where}{code}: {self.message}"


class ApiError(DeliveryError):
    """A synchronous API helper (grants, balance, burn tables) got an error answer."""


class EventRejected(RevosError):
    """The gateway refused one event; it is reported, never retried."""

    def __init__(self, event_id: str, code: str, message: str) -> None:
        super().__init__(f"event {event_id!r} rejected [{code}]: {message}")
        self.event_id = event_id
        self.code = code
        self.message = message


class EventDropped(RevosError):
    """The SDK gave up on an event locally (queue full, client closed, exit time limit)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def is_retryable(error: BaseException) -> bool:
    """True when resending the same request may succeed: no answer, 408, 429 or 5xx (or as marked)."""
    if not isinstance(error, DeliveryError):
        return False
    if error.retryable is not None:
        return error.retryable
    status = error.status
    return status is None or status in RETRYABLE_STATUSES or 500 <= status <= 599
