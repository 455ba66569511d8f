"""The spool directory: a write-ahead log of tracked events that outlives the process.

Every event is appended to the owner's active segment inside `track()` before it is queued in memory,
so a crash after `track()` returned leaves it on disk. Segments are newline-delimited event JSON:

- `<owner>.<seq>.wal`   memory-backed: each event is also in the in-memory queue; the file is deleted
                        once every event in it has been resolved (accepted, rejected or failed).
- `<owner>.<seq>.spill` disk-only: written while the queue was full; replayed from disk once closed.
- `<owner>.lock`        held with flock(2) while the owner lives; segments of an owner whose lock is
                        free (or gone) are adopted and replayed by the next client that opens the dir.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import threading
import time
import uuid
from pathlib import Path

import orjson

from revos_sdk._delivery.batch import Pending
from revos_sdk._delivery.segment import Segment

log = logging.getLogger("revos_sdk")

WAL = "wal"
SPILL = "spill"
_SEGMENT_KINDS = (WAL, SPILL)


def _unlink(path: Path) -> None:
    """Delete a spool file; a failure only means its events may be sent again, so it is logged."""
    try:
        path.unlink()
    except FileNotFoundError:
        pass
    except OSError:
        log.exception("cannot delete spool file %s; its events may be sent again", path)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Spool:
    """Owns this process's segments in one directory and adopts those of dead owners."""

    def __init__(self, directory: Path, segment_events: int = 5_000, fsync_interval: float = 0.2) -> None:
        self.directory = directory
        self.segment_events = segment_events
        self.fsync_interval = fsync_interval
        self._reset()

    def _reset(self) -> None:
        self._lock = threading.Lock()
        self._owner: str | None = None
        self._owner_fd: int | None = None
        self._seq = 0
        self._active: Segment | None = None
        self._unsynced: list[int] = []
        self._live: set[Segment] = set()
        self._replayable: list[Path] = []
        self._dirty = False
        self._dir_dirty = False
        self._last_fsync = time.monotonic()
        self.spilling = False

    # -- ownership ---------------------------------------------------------------------------------

    def _ensure_owner(self) -> str:
        if self._owner is None:
            self.directory.mkdir(parents=True, exist_ok=True)
            owner = uuid.uuid4().hex
            fd = os.open(self.directory / f"{owner}.lock", os.O_RDWR | os.O_CREAT, 0o644)
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            self._owner, self._owner_fd = owner, fd
            self._dir_dirty = True
        return self._owner

    def _next_path(self, kind: str) -> Path:
        owner = self._ensure_owner()
        self._seq += 1
        return self.directory / f"{owner}.{self._seq:08d}.{kind}"

    # -- writer side (track) -----------------------------------------------------------------------

    def append(self, payload: bytes, memory_backed: bool) -> Segment:
        """Durably enough append one event; the returned segment must be acked once it is resolved."""
        line = payload + b"\n"
        with self._lock:
            active = self._active
            if (
                active is None
                or active.memory_backed != memory_backed
                or active.written >= self.segment_events
            ):
                active = self._open_locked(memory_backed)
            assert active.fd is not None
            os.write(active.fd, line)
            active.written += 1
            active.last_write = time.monotonic()
            self._dirty = True
            self.spilling = not memory_backed
            if self.fsync_interval == 0:
                # Durable-before-return mode: pay for a disk flush inside track().
                os.fsync(active.fd)
                if self._dir_dirty:
                    _fsync_dir(self.directory)
                    self._dir_dirty = False
            return active

    def _open_locked(self, memory_backed: bool) -> Segment:
        """Close the active segment and open a new one of the given kind."""
        self._close_active_locked()
        path = self._next_path(WAL if memory_backed else SPILL)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_EXCL, 0o644)
        segment = Segment(path, memory_backed, fd)
        self._active = segment
        self._live.add(segment)
        self._dir_dirty = True
        return segment

    def _close_active_locked(self) -> None:
        segment, self._active = self._active, None
        if segment is None:
            return
        if segment.fd is not None:
            # The batcher fsyncs and closes it later, so a rotation inside track() never waits for the disk.
            self._unsynced.append(segment.fd)
            segment.fd = None
        segment.closed = True
        if not segment.memory_backed:
            self._live.discard(segment)
            self._replayable.append(segment.path)
        self._remove_if_done_locked(segment)

    def _remove_if_done_locked(self, segment: Segment) -> None:
        if (
            segment.memory_backed
            and segment.closed
            and not segment.removed
            and segment.acked >= segment.written
        ):
            segment.removed = True
            self._live.discard(segment)
            _unlink(segment.path)

    # -- batcher side ------------------------------------------------------------------------------

    def ack(self, segment: Segment, n: int = 1) -> None:
        """Record that `n` events of a memory-backed segment were resolved; deletes it when all are."""
        with self._lock:
            segment.acked += n
            self._remove_if_done_locked(segment)

    def maintain(self, queue_is_low: bool, idle_rotate: float = 2.0) -> None:
        """Periodic upkeep from the batcher: fsync on schedule, close idle or drained segments."""
        now = time.monotonic()
        fd_to_sync = -1
        sync_dir = False
        with self._lock:
            active = self._active
            if active is not None:
                if not active.memory_backed and queue_is_low:
                    # The queue drained: end the spill so it gets replayed and track() uses memory again.
                    self._close_active_locked()
                    self.spilling = False
                elif (
                    active.memory_backed
                    and active.acked >= active.written
                    and now - active.last_write > idle_rotate
                ):
                    # Everything in it was delivered; closing deletes it so a crash later resends nothing.
                    self._close_active_locked()
            closed_fds, self._unsynced = self._unsynced, []
            if self._dirty and now - self._last_fsync >= self.fsync_interval and self._active is not None:
                assert self._active.fd is not None
                fd_to_sync = os.dup(self._active.fd)
                self._dirty = False
                self._last_fsync = now
            if self._dir_dirty and self._owner is not None:
                sync_dir, self._dir_dirty = True, False
        # fsync outside the lock so track() never waits for the disk.
        for fd in closed_fds:
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        if fd_to_sync >= 0:
            try:
                os.fsync(fd_to_sync)
            finally:
                os.close(fd_to_sync)
        if sync_dir:
            _fsync_dir(self.directory)

    def sync(self) -> None:
        """fsync the active segment and the directory now (flush and close call this)."""
        with self._lock:
            self._sync_closed_locked()
            if self._active is not None and self._active.fd is not None:
                os.fsync(self._active.fd)
            self._dirty = False
            if self._owner is not None:
                _fsync_dir(self.directory)
                self._dir_dirty = False

    def _sync_closed_locked(self) -> None:
        closed_fds, self._unsynced = self._unsynced, []
        for fd in closed_fds:
            try:
                os.fsync(fd)
            finally:
                os.close(fd)

    def adopt(self) -> int:
        """Take over the segments of owners that are gone; returns how many files became replayable."""
        if not self.directory.is_dir():
            return 0
        with self._lock:
            me = self._ensure_owner()
        adopted = 0
        names = sorted(os.listdir(self.directory))
        owners = {name.split(".", 1)[0] for name in names if name.count(".") == 2 or name.endswith(".lock")}
        for owner in sorted(owners - {me}):
            adopted += self._adopt_owner(owner, names)
        return adopted

    def _adopt_owner(self, owner: str, names: list[str]) -> int:
        lock_path = self.directory / f"{owner}.lock"
        try:
            fd = os.open(lock_path, os.O_RDONLY)
        except FileNotFoundError:
            fd = None  # A closed owner removed its lock; its leftovers are orphans to adopt.
        try:
            if fd is not None:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    return 0  # The owner is alive and will deliver its own segments.
            adopted = 0
            for name in names:
                parts = name.split(".")
                if len(parts) != 3 or parts[0] != owner:
                    continue
                source = self.directory / name
                if parts[2] not in _SEGMENT_KINDS:
                    with contextlib.suppress(FileNotFoundError):
                        source.unlink()  # A temp file never renamed: its events are in a segment.
                    continue
                with self._lock:
                    target = self._next_path(SPILL)
                    try:
                        os.rename(source, target)
                    except FileNotFoundError:
                        continue  # Another process adopted it first.
                    self._replayable.append(target)
                    self._dir_dirty = True
                adopted += 1
            if fd is not None:
                with contextlib.suppress(FileNotFoundError):
                    lock_path.unlink()
            return adopted
        finally:
            if fd is not None:
                os.close(fd)

    def next_replayable(self) -> Path | None:
        """The oldest closed disk-only segment waiting to be replayed, if any."""
        with self._lock:
            return self._replayable.pop(0) if self._replayable else None

    @property
    def has_replayable(self) -> bool:
        return bool(self._replayable)

    @staticmethod
    def read(path: Path) -> list[Pending]:
        """The events of a segment file; a torn or garbled line (a crash mid-write) is skipped."""
        items: list[Pending] = []
        for number, line in enumerate(path.read_bytes().splitlines(), 1):
            if not line.strip():
                continue
            try:
                event_id = orjson.loads(line)["id"]
            except (orjson.JSONDecodeError, KeyError, TypeError):
                log.warning("skipping unreadable line %d of spool segment %s", number, path.name)
                continue
            items.append(Pending(str(event_id), bytes(line)))
        return items

    @staticmethod
    def remove(path: Path) -> None:
        """Delete a replayed segment once all its events are resolved."""
        _unlink(path)

    # -- shutdown ----------------------------------------------------------------------------------

    def save_leftovers(self, items: list[Pending], replayed_paths: list[Path]) -> None:
        """Persist undelivered events atomically, then delete every file they made redundant.

        `items` are all unresolved in-memory events plus the unresolved remainder of replays from
        `replayed_paths`. A memory-backed segment is deleted only if its events are all either
        resolved or in `items`, so an event racing with shutdown is never lost (at worst resent).
        """
        with self._lock:
            if items:
                target = self._next_path(SPILL)
                temp = target.with_suffix(".tmp")
                fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
                try:
                    os.write(fd, b"".join(item.payload + b"\n" for item in items))
                    os.fsync(fd)
                finally:
                    os.close(fd)
                os.rename(temp, target)
                _fsync_dir(self.directory)
            self._close_active_locked()
            self._sync_closed_locked()
            saved: dict[Segment, int] = {}
            for item in items:
                if item.segment is not None:
                    saved[item.segment] = saved.get(item.segment, 0) + 1
            for segment in list(self._live):
                segment.acked += saved.get(segment, 0)
                self._remove_if_done_locked(segment)
        for path in replayed_paths:
            self.remove(path)

    def close(self) -> None:
        """Close files and release ownership; segments left behind are adopted by the next client."""
        try:
            self._close()
        except OSError:
            log.exception(
                "closing the spool %s failed; its files are adopted after this process exits", self.directory
            )

    def _close(self) -> None:
        with self._lock:
            self._close_active_locked()
            self._sync_closed_locked()
            if self._owner_fd is not None:
                with contextlib.suppress(FileNotFoundError):
                    (self.directory / f"{self._owner}.lock").unlink()
                os.close(self._owner_fd)
                self._owner_fd = None
            if self._owner is not None:
                _fsync_dir(self.directory)
            self._owner = None
            # Our own pending spill files stay on disk; the next owner adopts them as orphans.
            self._replayable.clear()
            self._live.clear()

    def reset_after_fork(self) -> None:
        """In a forked child: drop the parent's files and locks without touching them."""
        for fd in (self._owner_fd, self._active.fd if self._active else None, *self._unsynced):
            if fd is not None:
                # Closing our copy never releases the parent's flock: the parent still holds its descriptor.
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._reset()
