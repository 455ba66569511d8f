"""The root of every error Revos raises, and the one retryable-or-fatal predicate."""

from __future__ import annotations


class RevosError(Exception):
    """Root of the project's errors; `code` is stable and safe to show to API users."""

    code = "internal"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class ConfigurationError(RevosError):
    code = "configuration"


class DecodeError(RevosError):
    """Bytes that are not a record of any known schema."""

    code = "undecodable"


class EncodeError(RevosError):
    code = "unencodable"


class ValidationError(RevosError):
    """Input that breaks a domain rule; `field` names where, when known."""

    code = "invalid"

    def __init__(self, message: str, *, code: str | None = None, field: str | None = None) -> None:
        super().__init__(message, code=code)
        self.field = field


class UnpricedError(RevosError):
    code = "unpriced"


class TransientError(RevosError):
    """A failure that a later attempt may not meet (a service down, a timeout)."""

    code = "unavailable"


def is_retryable(exc: BaseException) -> bool:
    """True when retrying the same work later may succeed; everything else is fatal for that record."""
    if isinstance(exc, TransientError):
        return True
    if isinstance(exc, RevosError):
        return False
    # Library errors we meet at the edges: connections dropping, timeouts, a database restarting.
    import asyncpg  # local: keeps the pure core importable without the driver's cost

    retryable = (
        OSError,  # includes ConnectionError
        TimeoutError,
        asyncpg.exceptions.PostgresConnectionError,  # class 08: connection exceptions
        asyncpg.exceptions.OperatorInterventionError,  # class 57: shutdown, cannot connect now
        asyncpg.exceptions.InsufficientResourcesError,  # class 53: too many connections, disk full
        asyncpg.exceptions.TransactionRollbackError,  # class 40: serialization failure, deadlock
        asyncpg.exceptions.InterfaceError,  # the connection closed under us
    )
    return isinstance(exc, retryable)
