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
    """True when retrying the same work later may succeed; everything else is fatal for that record.

    An error raised while handling a retryable one (a rollback failing on a dropped connection, say)
    is a consequence of it, so the whole chain of causes is consulted.
    """
    seen: set[int] = set()
    link: BaseException | None = exc
    while link is not None and id(link) not in seen:
        seen.add(id(link))
        if isinstance(link, TransientError):
            return True
        if isinstance(link, RevosError):
            return False
        if isinstance(link, _library_retryable()):
            return True
        link = link.__cause__ or link.__context__
    return False


def _library_retryable() -> tuple[type[BaseException], ...]:
    """Library errors we meet at the edges: connections dropping, timeouts, a database restarting."""
    import asyncpg  # local: keeps the pure core importable without the driver's cost

    return (
        OSError,  # includes ConnectionError
        TimeoutError,
        asyncpg.exceptions.PostgresConnectionError,  # class 08: connection exceptions
        asyncpg.exceptions.OperatorInterventionError,  # class 57: shutdown, cannot connect now
        asyncpg.exceptions.InsufficientResourcesError,  # class 53: too many connections, disk full
        asyncpg.exceptions.TransactionRollbackError,  # class 40: serialization failure, deadlock
        asyncpg.exceptions.InterfaceError,  # the connection closed or was released under us
        asyncpg.exceptions.InternalClientError,  # the pool's own state after a connection loss
    )
