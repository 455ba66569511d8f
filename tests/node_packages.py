"""Running the Node parts of the repository from pytest: installing a package's locked dependencies once
per lock file, and running Node with a bounded time, failing with its output."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TS_SDK = ROOT / "sdk" / "typescript"
NEXTJS_EXAMPLE = ROOT / "examples" / "nextjs"
_STAMP = ".revos-lock-sha256"


def require_node() -> str:
    """The node binary; the test is skipped (with the reason) where Node is not installed."""
    node = shutil.which("node")
    if node is None or shutil.which("npm") is None:
        pytest.skip("node and npm are not installed; the TypeScript SDK's tests need Node.js 18+")
    return node


def run(args: list[str], cwd: Path, timeout: float, env: dict[str, str] | None = None) -> str:
    """Run a command; on failure or timeout, fail the test with its output."""
    try:
        done = subprocess.run(
            args, cwd=cwd, env={**os.environ, **(env or {})}, capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"{' '.join(args)} took longer than {timeout} s:\n{exc.stdout or ''}\n{exc.stderr or ''}")
    if done.returncode != 0:
        pytest.fail(
            f"{' '.join(args)} exited {done.returncode}:\n{done.stdout[-20000:]}\n{done.stderr[-8000:]}"
        )
    return done.stdout


def npm_ci(package: Path, timeout: float = 300) -> None:
    """`npm ci` in `package`, skipped while node_modules matches the lock file it was installed from."""
    lock = hashlib.sha256((package / "package-lock.json").read_bytes()).hexdigest()
    stamp = package / "node_modules" / _STAMP
    if stamp.exists() and stamp.read_text() == lock:
        return
    run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], package, timeout)
    stamp.write_text(lock)


def build_sdk() -> None:
    """Install the TypeScript SDK's dev dependencies (once per lock) and build both module formats."""
    npm_ci(TS_SDK)
    inputs = [*TS_SDK.glob("src/*.ts"), *TS_SDK.glob("tsconfig*.json"), TS_SDK / "scripts" / "build.mjs"]
    outputs = [TS_SDK / "dist" / "esm" / "index.js", TS_SDK / "dist" / "cjs" / "package.json"]
    if all(out.exists() for out in outputs) and min(o.stat().st_mtime for o in outputs) > max(
        i.stat().st_mtime for i in inputs
    ):
        return
    run(["npm", "run", "--silent", "build"], TS_SDK, 120)
