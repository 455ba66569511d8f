"""Shared fixtures: one broker and one PostgreSQL per test session, and a fresh database per test.

The embedded services run on free ports in temporary directories, never on the defaults, so a `make run`
on the same machine and the tests leave each other alone. Set REVOS_TEST_KAFKA_BOOTSTRAP and/or
REVOS_TEST_DATABASE_URL to test against real services instead; every other REVOS_* variable of the
calling shell is ignored. Give an embedded service a `revos_home`,
not a `tmp_path` (see `service_root`).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from infra.broker import EmbeddedBroker
from infra.ports import free_port
from infra.postgres import EmbeddedPostgres


def pytest_configure(config: pytest.Config) -> None:
    """Forget the operator's REVOS_* settings (a real model key, a production database): the tests, and
    every stack they start, configure themselves. REVOS_TEST_* choose the services to test against."""
    for name in [n for n in os.environ if n.startswith("REVOS_") and not n.startswith("REVOS_TEST_")]:
        del os.environ[name]


@dataclass(frozen=True, slots=True)
class BrokerService:
    """A Kafka-compatible broker the tests may use."""

    bootstrap_servers: str


@dataclass(frozen=True, slots=True)
class DatabaseService:
    """A PostgreSQL database the tests may use, on a server where they may create databases."""

    dsn: str


@pytest.fixture(scope="session")
def service_root() -> Iterator[Path]:
    """A private directory for the homes of embedded services, outside pytest's temporary root.

    Under root, PostgreSQL runs as another user that must traverse every parent of its data directory,
    and each new pytest session resets /tmp/pytest-of-<user> to 0700: a concurrent session would cut
    off an initdb or server of this one.
    """
    root = Path(tempfile.mkdtemp(prefix="revos-tests-"))
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def revos_home(service_root: Path) -> Path:
    """A new, empty REVOS_HOME for one test, where embedded services may keep their data."""
    return Path(tempfile.mkdtemp(prefix="home-", dir=service_root))


@pytest.fixture(scope="session")
def broker(service_root: Path) -> Iterator[BrokerService]:
    external = os.environ.get("REVOS_TEST_KAFKA_BOOTSTRAP")
    if external:
        yield BrokerService(external)
        return
    embedded = EmbeddedBroker(Path(tempfile.mkdtemp(prefix="broker-", dir=service_root)), free_port())
    embedded.start()
    try:
        yield BrokerService(embedded.bootstrap_servers)
    finally:
        embedded.stop()


@pytest.fixture(scope="session")
def postgres(service_root: Path) -> Iterator[DatabaseService]:
    external = os.environ.get("REVOS_TEST_DATABASE_URL")
    if external:
        yield DatabaseService(external)
        return
    embedded = EmbeddedPostgres(Path(tempfile.mkdtemp(prefix="postgres-", dir=service_root)), free_port())
    embedded.start()
    try:
        yield DatabaseService(embedded.dsn)
    finally:
        embedded.stop()


@pytest.fixture
async def database(postgres: DatabaseService) -> AsyncIterator[str]:
    """The DSN of a new, empty database on the session's server, dropped after the test."""
    name = f"test_{uuid.uuid4().hex[:16]}"
    await _execute(postgres.dsn, f'CREATE DATABASE "{name}"')
    try:
        yield _with_database(postgres.dsn, name)
    finally:
        # FORCE: a connection the test leaked must not keep the database alive.
        await _execute(postgres.dsn, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def _execute(dsn: str, sql: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def _with_database(dsn: str, name: str) -> str:
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(path=f"/{name}"))
