"""The one retryable-or-fatal predicate: the project's errors by class, the libraries' met at the edges by kind."""

from __future__ import annotations

import asyncpg

from pipeline.errors import RevosError, TransientError


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
