"""Sampling profiles of the benchmark's processes with py-spy, summarised as their hottest functions."""

from __future__ import annotations

import re
import shutil
import signal
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from infra.errors import InfraError
from infra.processes import Child, ChildSpec, spawn

_FRAME = re.compile(r"^(?P<func>.*) \((?P<path>.*?)(?::\d+)?\)$")
_LIBRARY = re.compile(r"^.*/lib/python3\.\d+/(?:site-packages/)?")
_ROOT = str(Path(__file__).resolve().parents[2]) + "/"
_OURS = ("agents/", "pipeline/", "projections/", "gateway/", "infra/")  # infra/: the Kafka adapter, the CLI


def py_spy() -> str:
    """The py-spy executable, next to this interpreter or on PATH; InfraError when it is not installed."""
    beside = Path(sys.executable).with_name("py-spy")
    found = str(beside) if beside.exists() else shutil.which("py-spy")
    if found is None:
        raise InfraError("--profile needs py-spy: install it with `.venv/bin/pip install py-spy`")
    return found


def has_py_spy() -> bool:
    try:
        py_spy()
    except InfraError:
        return False
    return True


class Profiler:
    """py-spy recording each named process from `start()` until `stop()`, raw stacks in `out_dir`."""

    def __init__(self, out_dir: Path, pids: dict[str, int], *, rate: int = 100) -> None:
        self.out_dir = out_dir
        self._pids = pids
        self._rate = rate
        self._children: dict[str, Child] = {}

    def start(self) -> None:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        executable = py_spy()
        for name, pid in self._pids.items():
            argv = (
                executable, "record", "--pid", str(pid), "--rate", str(self._rate), "--nonblocking",
                "--format", "raw", "--output", str(self.out_dir / f"{name}.txt"),
            )  # fmt: skip
            # py-spy writes its file when interrupted.
            spec = ChildSpec(f"py-spy-{name}", argv, stop_signal=signal.SIGINT, stop_timeout=30)
            self._children[name] = spawn(spec, self.out_dir)

    def stop(self, top: int = 12) -> dict[str, Any]:
        """Stop recording; per process, samples and the functions hottest by own and inclusive time."""
        for child in self._children.values():
            child.stop()
        summary = {name: summarise(self.out_dir / f"{name}.txt", top) for name in self._children}
        self._children.clear()
        return summary


def summarise(raw: Path, top: int) -> dict[str, Any]:
    """Hottest functions in a py-spy raw (collapsed stacks) file, as percentages of its samples."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    try:
        lines = raw.read_text().splitlines()
    except FileNotFoundError:
        return {"samples": 0, "file": str(raw), "self": [], "inclusive_ours": []}
    for line in lines:
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_name(frame) for frame in stack.split(";")]
        total += count
        own[frames[-1]] += count
        for frame in set(frames):
            if frame.split(" (", 1)[-1].startswith(_OURS):
                inclusive[frame] += count

    def pct(counter: Counter[str]) -> list[list[Any]]:
        return [[name, round(100.0 * n / total, 1)] for name, n in counter.most_common(top)] if total else []

    return {"samples": total, "file": str(raw), "self": pct(own), "inclusive_ours": pct(inclusive)}


def _name(frame: str) -> str:
    """`func (path:line)` as `func (short path)`: site-packages and the checkout prefix removed."""
    match = _FRAME.match(frame.strip())
    if match is None:
        return frame.strip()
    path = _LIBRARY.sub("", match["path"]).removeprefix(_ROOT)
    return f"{match['func']} ({path})"
