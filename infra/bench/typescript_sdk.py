"""The TypeScript SDK's figures for `make bench`: track() cost and delivery events/s, measured by Node."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

PACKAGE = Path(__file__).resolve().parents[2] / "sdk" / "typescript"


def _run(args: list[str], env: dict[str, str] | None = None, timeout: float = 300) -> str:
    done = subprocess.run(
        args, cwd=PACKAGE, env={**os.environ, **(env or {})}, capture_output=True, text=True, timeout=timeout
    )
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} exited {done.returncode}: {done.stderr[-2000:]}")
    return done.stdout


def measure(base_url: str, api_key: str, calls: int, events: int) -> dict[str, Any]:
    """{"track": {p50_us, p99_us, ...}, "delivery": {events, events_per_s, ...}}, or {"skipped": why}."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        return {"skipped": "node and npm are not installed"}
    if not (PACKAGE / "node_modules").exists():
        _run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"])
    if not (PACKAGE / "dist" / "esm" / "index.js").exists():
        _run([npm, "run", "--silent", "build"])
    out = _run(
        [node, "scripts/bench.mjs", str(calls), str(events)],
        {"REVOS_BASE_URL": base_url, "REVOS_API_KEY": api_key},
    )
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result
