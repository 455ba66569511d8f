"""Fixtures for the SDK integration tests: a fault-injecting events server and a spool directory."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sdk_fault_server import FaultServer


@pytest.fixture
def server() -> Iterator[FaultServer]:
    state = FaultServer()
    state.start()
    yield state
    state.stop()


@pytest.fixture
def spool_dir(tmp_path: Path) -> Path:
    return tmp_path / "spool"
