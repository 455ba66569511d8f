"""Fixtures for the SDK integration tests: a fault-injecting events server and a spool directory."""

from __future__ import annotations

import threading
import time
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


@pytest.fixture(autouse=True)
def no_batcher_outlives_its_test() -> Iterator[None]:
    """A client left open keeps retrying in the background, long after its test ended; forbid that."""
    before = {t for t in threading.enumerate() if t.name == "revos-sdk-batcher"}
    yield
    deadline = time.monotonic() + 5.0
    while True:
        left = [t for t in threading.enumerate() if t.name == "revos-sdk-batcher" and t not in before]
        if not left or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert not left, f"{len(left)} SDK client(s) left open by this test: close them"
