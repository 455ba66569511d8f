"""Child processes that die with their parent, log to `<home>/logs/<name>.log` and stop within a deadline.

A child spawned attached gets a parent-death signal (Linux prctl PR_SET_PDEATHSIG), so even a `kill -9`
of the launcher leaves no orphan. The kernel sends that signal when the *thread* that forked the child
exits, so spawn from the main thread (never from an executor or `asyncio.to_thread`).
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import logging
import os
import pwd
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import psutil

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1
_POLL_INTERVAL = 0.05


@dataclass(frozen=True, slots=True)
class ChildSpec:
    """How to run one child: `name` names its log; `stop_signal` asks it to stop.

    `death_signal` comes if we die (default: `stop_signal`). A child whose graceful stop needs services
    that die with us (a stream worker needs the broker) should get SIGKILL, or it may never finish.
    `drain_signal`, if any, asks it to take no new work before a stop (the gateway refuses writes).
    """

    name: str
    argv: Sequence[str]
    env: Mapping[str, str] | None = None  # added to (and overriding) the parent's environment
    cwd: Path | None = None
    user: str | None = None  # run as this system user (PostgreSQL refuses to run as root)
    stop_signal: signal.Signals = signal.SIGTERM
    stop_timeout: float = 15.0
    death_signal: signal.Signals | None = None
    drain_signal: signal.Signals | None = None


@dataclass(slots=True)
class Deadline:
    """A point in monotonic time `seconds` from now."""

    seconds: float
    _end: float = field(init=False)

    def __post_init__(self) -> None:
        self._end = time.monotonic() + self.seconds

    @property
    def remaining(self) -> float:
        return max(0.0, self._end - time.monotonic())

    @property
    def expired(self) -> bool:
        return time.monotonic() >= self._end


class Child:
    """One spawned process, owned by this process: poll it, read its log, stop it."""

    def __init__(
        self, spec: ChildSpec, process: subprocess.Popen[bytes], log_path: Path, log_offset: int = 0
    ) -> None:
        self.spec = spec
        self.process = process
        self.log_path = log_path
        self.log_offset = log_offset  # where this run's output starts in a log shared with earlier runs

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def pid(self) -> int:
        return self.process.pid

    def poll(self) -> int | None:
        """The exit code once the child has exited (negative: killed by that signal), else None."""
        return self.process.poll()

    def stop(self, timeout: float | None = None) -> int:
        """Send the stop signal, wait up to `timeout`, then SIGKILL it and its descendants; the exit code."""
        timeout = self.spec.stop_timeout if timeout is None else timeout
        if self.process.poll() is None:
            self.process.send_signal(self.spec.stop_signal)
            try:
                return self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                log.warning("%s (pid %d) did not stop within %.0fs; killing it", self.name, self.pid, timeout)
                kill_tree(self.pid)
        return self.process.wait()

    def log_tail(self, lines: int = 20) -> str:
        """The last lines this run wrote to its log."""
        return tail(self.log_path, lines, since=self.log_offset)

    def __repr__(self) -> str:
        return f"Child({self.name!r}, pid={self.pid})"


def spawn(spec: ChildSpec, logs: Path, *, detached: bool = False, to_file: bool = True) -> Child:
    """Start `spec` with its output appended to `<logs>/<name>.log` (or, not `to_file`, written to this
    process's stdout: container platforms collect it).

    Attached (default): the child gets `spec.stop_signal` when this process dies and has its own process
    group, so a Ctrl-C in the terminal reaches only the launcher, which then stops children in order.
    Detached: a new session and no death signal, so the child outlives this process.
    """
    logs.mkdir(parents=True, exist_ok=True)
    log_path = logs / f"{spec.name}.log"
    env = {**os.environ, **(spec.env or {})}
    uid: int | None = None
    gid: int | None = None
    groups: list[int] | None = None
    if spec.user is not None:
        entry = pwd.getpwnam(spec.user)
        uid, gid, groups = entry.pw_uid, entry.pw_gid, []  # drop root's supplementary groups too
        env.update(HOME=entry.pw_dir, USER=spec.user, LOGNAME=spec.user)
    with open(log_path, "ab") if to_file else contextlib.nullcontext(None) as out:
        offset = 0
        if out is not None:
            offset = out.tell()
            started = datetime.now(UTC).isoformat(timespec="seconds")
            out.write(f"--- {started} starting {spec.name}: {' '.join(spec.argv)}\n".encode())
            out.flush()
        process = subprocess.Popen(
            list(spec.argv),
            stdin=subprocess.DEVNULL,
            stdout=out if out is not None else sys.stdout.fileno(),
            stderr=subprocess.STDOUT,
            cwd=spec.cwd,
            env=env,
            close_fds=True,
            start_new_session=detached,
            process_group=None if detached else 0,
            preexec_fn=None if detached else _die_with_parent(spec.death_signal or spec.stop_signal),
            user=uid,
            group=gid,
            extra_groups=groups,
        )
    mode = ", detached" if detached else ""
    log.info("started %s (pid %d%s), log %s", spec.name, process.pid, mode, log_path)
    return Child(spec, process, log_path, offset)


def _die_with_parent(sig: signal.Signals) -> Callable[[], None] | None:
    """A preexec_fn that arms the parent-death signal; None where the platform has none."""
    prctl = _prctl()
    if prctl is None:
        return None
    parent = os.getpid()

    def arm() -> None:
        # subprocess switches uid before calling preexec_fn, and a uid change clears the death signal,
        # so it must be armed here rather than inherited.
        if prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0) != 0:
            os._exit(126)
        if os.getppid() != parent:  # the parent died before the signal was armed
            os._exit(125)

    return arm


@functools.cache
def _prctl() -> Callable[..., int] | None:
    # Resolved in the parent: after fork the child should only call it.
    if sys.platform != "linux":
        return None
    prctl: Callable[..., int] = ctypes.CDLL(None, use_errno=True).prctl
    return prctl


def alive(pid: int) -> bool:
    """True while `pid` is a running process (a zombie is dead: it only awaits its parent's wait)."""
    try:
        status: str = psutil.Process(pid).status()
    except psutil.Error:
        return False
    return bool(status != psutil.STATUS_ZOMBIE)


def wait_gone(pids: Sequence[int], timeout: float) -> list[int]:
    """Wait until every pid is dead or `timeout` passes; the pids still alive."""
    deadline = Deadline(timeout)
    while True:
        left = [pid for pid in pids if alive(pid)]
        if not left or deadline.expired:
            return left
        time.sleep(_POLL_INTERVAL)


def terminate(pid: int, sig: signal.Signals, timeout: float) -> None:
    """Stop a process that may not be our child: `sig`, wait up to `timeout`, then SIGKILL its whole tree."""
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return
    if wait_gone([pid], timeout):
        log.warning("pid %d did not stop within %.0fs of %s; killing it", pid, timeout, sig.name)
        kill_tree(pid)
        wait_gone([pid], timeout)


def kill_tree(pid: int) -> None:
    """SIGKILL `pid` and every descendant; descendants too, since e.g. PostgreSQL backends outlive a
    killed postmaster long enough to block the next start."""
    try:
        root = psutil.Process(pid)
        procs = [*root.children(recursive=True), root]
    except psutil.Error:
        return
    for proc in procs:
        try:
            proc.kill()
        except psutil.Error:
            continue
    wait_gone([proc.pid for proc in procs], 5.0)


def describe_exit(returncode: int) -> str:
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exit code {returncode}"


def tail(path: Path, lines: int = 20, *, since: int = 0) -> str:
    """The last `lines` lines of a text file after byte `since`, or '' when it does not exist."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(since, f.tell() - 64 * 1024))
            data = f.read()
    except FileNotFoundError:
        return ""
    return "\n".join(data.decode(errors="replace").splitlines()[-lines:])
