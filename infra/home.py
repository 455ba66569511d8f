"""The REVOS_HOME directory: where each part keeps its files, and the lock that gives one stack per home."""

from __future__ import annotations

import contextlib
import fcntl
import os
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from infra.errors import HomeLockedError


@dataclass(frozen=True, slots=True)
class Home:
    """The layout of one REVOS_HOME; `ensure()` creates it, nothing else touches the disk."""

    root: Path

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def run(self) -> Path:
        """Pid files and markers of running services."""
        return self.root / "run"

    @property
    def postgres_data(self) -> Path:
        return self.root / "postgres"

    @property
    def lock_file(self) -> Path:
        return self.root / "revos.lock"

    @property
    def detached_marker(self) -> Path:
        """Present while services started by `revos infra up` are meant to be running."""
        return self.run / "detached"

    def ensure(self) -> Home:
        for path in (self.root, self.logs, self.run):
            path.mkdir(parents=True, exist_ok=True)
        return self


class HomeLock:
    """An exclusive flock on `<home>/revos.lock`, held until `release()` or the death of the process.

    The kernel drops a flock when its holder dies, so a crashed launcher never leaves a stale lock.
    The file holds the holder's pid only to name it in the error another process gets.
    """

    def __init__(self, home: Path) -> None:
        self._home = Home(home)
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> None:
        """Take the lock at once or raise `HomeLockedError`; never waits."""
        if self._fd is not None:
            return
        self._home.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(self._home.lock_file, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = _read_pid(fd)
            os.close(fd)
            raise HomeLockedError(self._home.root, pid) from None
        except BaseException:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
        os.close(fd)  # closing the only descriptor drops the flock

    def __enter__(self) -> HomeLock:
        self.acquire()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()


@dataclass(frozen=True, slots=True)
class LockHolder:
    """A live process holding a home lock; `pid` is None in the instant before it writes it."""

    pid: int | None


def lock_holder(home: Path) -> LockHolder | None:
    """Who holds the home lock, or None when nobody does."""
    lock_file = Home(home).lock_file
    try:
        fd = os.open(lock_file, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return LockHolder(_read_pid(fd))
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def _read_pid(fd: int) -> int | None:
    try:
        return int(os.pread(fd, 32, 0).decode().strip())
    except (OSError, ValueError):
        return None
