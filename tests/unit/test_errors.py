"""Which failures are worth retrying: the predicate every retry loop and the poison judgement share."""

from __future__ import annotations

import asyncpg
import pytest

from pipeline.errors import TransientError, ValidationError
from projections.retryable import is_retryable


def raised_while_handling(first: BaseException, then: BaseException) -> BaseException:
    try:
        try:
            raise first
        except BaseException:
            raise then  # noqa: B904 - the implicit context is what is under test
    except BaseException as exc:
        return exc


@pytest.mark.parametrize(
    "error",
    [
        ConnectionRefusedError(111, "refused"),
        TimeoutError(),
        TransientError("broker down"),
        asyncpg.exceptions.ConnectionDoesNotExistError("closed in the middle of operation"),
        asyncpg.exceptions.CannotConnectNowError("the database system is starting up"),
        asyncpg.exceptions.InterfaceError("connection has been released back to the pool"),
        asyncpg.exceptions.InternalClientError("connect() called while another connection exists"),
    ],
)
def test_outages_are_retryable(error: BaseException) -> None:
    assert is_retryable(error)


@pytest.mark.parametrize(
    "error",
    [
        ValueError("bad"),
        KeyError("k"),
        ValidationError("no"),
        asyncpg.exceptions.DataError("numeric overflow"),
    ],
)
def test_faults_in_the_record_are_not(error: BaseException) -> None:
    assert not is_retryable(error)


def test_an_error_raised_while_handling_an_outage_is_part_of_it() -> None:
    chained = raised_while_handling(ConnectionResetError(), RuntimeError("rollback failed"))
    assert is_retryable(chained)
    caused = RuntimeError("wrapped")
    caused.__cause__ = asyncpg.exceptions.AdminShutdownError("terminating connection")
    assert is_retryable(caused)


def test_a_domain_error_is_fatal_whatever_preceded_it() -> None:
    assert not is_retryable(raised_while_handling(OSError(), ValidationError("amount must be positive")))
    assert is_retryable(raised_while_handling(ValueError(), TransientError("try later")))


def test_a_cycle_of_causes_ends() -> None:
    a, b = RuntimeError("a"), RuntimeError("b")
    a.__context__, b.__context__ = b, a
    assert not is_retryable(a)
