"""Whole processes: delivery at interpreter exit, the spool across exits and crashes, and fork."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from sdk_fault_server import API_KEY, FaultServer, wait_until

# Tracks N events, prints their ids, then ends the way MODE says:
#   exit  - falls off the end (atexit flushes)      crash - os._exit right after the last track()
#   kill  - SIGKILL right after the last track()     (N=0: just start, deliver what the spool holds, exit)
TRACKER = textwrap.dedent(
    """
    import json, os, signal, sys
    from revos_sdk import Revos
    url, n, spool, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    revos = Revos(base_url=url, spool_dir=spool or None, exit_timeout=float(sys.argv[5]),
                  backoff_base=0.02, backoff_max=0.2, request_timeout=1.0)
    ids = [revos.track(f"cust_{i % 10}", "llm.tokens", i + 1, {"model": "gpt-4o"}) for i in range(n)]
    print(json.dumps(ids), flush=True)
    if mode == "crash":
        os._exit(0)
    if mode == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    """
)


# The scripts read their key from the environment, like a deployed service would.
CHILD_ENV = {**os.environ, "REVOS_API_KEY": API_KEY}


def run_tracker(
    server: FaultServer,
    n: int,
    mode: str,
    spool: Path | None = None,
    exit_timeout: float = 5.0,
) -> set[str]:
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-c", TRACKER, server.url, str(n), str(spool or ""), mode, str(exit_timeout)],
        capture_output=True,
        text=True,
        timeout=60,
        env=CHILD_ENV,
    )
    assert proc.returncode in (0, -9), proc.stderr
    assert time.monotonic() - started < exit_timeout + 10
    return set(json.loads(proc.stdout.splitlines()[0]))


def segment_files(spool: Path) -> list[str]:
    return sorted(p.name for p in spool.iterdir() if not p.name.endswith(".lock"))


def test_a_process_that_exits_at_once_delivers_all_1000_events(server: FaultServer) -> None:
    ids = run_tracker(server, 1000, "exit")
    assert len(ids) == 1000
    # The process has exited, so everything must already be at the server.
    assert server.unique_ids == ids
    assert server.duplicates() == 0


def test_spooled_events_survive_an_exit_while_the_gateway_is_down(
    server: FaultServer, spool_dir: Path
) -> None:
    server.stop()
    ids = run_tracker(server, 1000, "exit", spool_dir, exit_timeout=1.0)
    assert segment_files(spool_dir)
    server.start()
    assert not server.unique_ids
    run_tracker(server, 0, "exit", spool_dir)
    assert server.unique_ids == ids
    assert segment_files(spool_dir) == []


@pytest.mark.parametrize("mode", ["crash", "kill"])
def test_spooled_events_survive_a_crash_right_after_track(
    server: FaultServer, spool_dir: Path, mode: str
) -> None:
    server.stop()
    ids = run_tracker(server, 1000, mode, spool_dir)
    server.start()
    run_tracker(server, 0, "exit", spool_dir)
    assert server.unique_ids == ids
    assert segment_files(spool_dir) == []


def test_a_crash_with_the_gateway_up_loses_nothing(server: FaultServer, spool_dir: Path) -> None:
    ids = run_tracker(server, 1000, "crash", spool_dir)
    run_tracker(server, 0, "exit", spool_dir)
    # Events delivered before the crash may be sent again by the next process (the gateway dedupes by id).
    assert server.unique_ids == ids
    assert segment_files(spool_dir) == []


FORKER = textwrap.dedent(
    """
    import json, os, sys
    from revos_sdk import Revos
    url, spool, out = sys.argv[1], sys.argv[2], sys.argv[3]
    revos = Revos(base_url=url, spool_dir=spool or None, max_batch_wait=0.2)
    before = [revos.track("parent", "llm.tokens") for _ in range(150)]
    pid = os.fork()
    if pid == 0:
        child = [revos.track("child", "llm.tokens") for _ in range(300)]
        ok = revos.flush(10)
        stats = revos.stats()
        revos.close()
        with open(out, "w") as f:
            json.dump({"child": child, "stats": stats}, f)
        os._exit(0 if ok and stats["sent"] == 300 else 3)
    after = [revos.track("parent", "llm.tokens") for _ in range(300)]
    assert revos.flush(10)
    _, status = os.waitpid(pid, 0)
    stats = revos.stats()
    revos.close()
    print(json.dumps({"before": before, "after": after, "status": status, "stats": stats}))
    """
)


@pytest.mark.parametrize("with_spool", [False, True])
def test_after_fork_parent_and_child_each_deliver_their_own_events_once(
    server: FaultServer, tmp_path: Path, with_spool: bool
) -> None:
    spool = tmp_path / "spool" if with_spool else None
    out = tmp_path / "child.json"
    proc = subprocess.run(
        [sys.executable, "-c", FORKER, server.url, str(spool or ""), str(out)],
        capture_output=True,
        text=True,
        timeout=60,
        env=CHILD_ENV,
    )
    assert proc.returncode == 0, proc.stderr
    parent = json.loads(proc.stdout)
    child = json.loads(out.read_text())
    assert parent["status"] == 0
    before, after, child_ids = set(parent["before"]), set(parent["after"]), set(child["child"])
    assert len(before | after | child_ids) == 750  # ids never collide across the fork
    wait_until(lambda: server.unique_ids == before | after | child_ids, 10)
    assert server.duplicates() == 0
    # Events queued before the fork are the parent's alone.
    assert parent["stats"]["sent"] == 450 and child["stats"]["sent"] == 300
    if spool is not None:
        assert segment_files(spool) == []
