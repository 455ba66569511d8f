"""End-to-end fixtures: a fresh database per test and the whole stack on top of it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from e2e_stack import Stack, start_stack


@pytest.fixture
async def stack(service_root: Path, database: str) -> AsyncIterator[Stack]:
    running = await start_stack(service_root, database)
    try:
        yield running
    finally:
        await running.stop()
