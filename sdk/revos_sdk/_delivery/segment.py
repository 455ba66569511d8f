"""A spool segment as the rest of the SDK sees it: a file and how many of its events are resolved."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(eq=False, slots=True)
class Segment:
    """One open or closed segment file and how many of its events are resolved."""

    path: Path
    memory_backed: bool
    fd: int | None
    written: int = 0
    acked: int = 0
    closed: bool = False
    removed: bool = False
    last_write: float = field(default_factory=time.monotonic)
