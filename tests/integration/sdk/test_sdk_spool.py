"""The spool directory on a real file system: segments, acknowledgement, adoption, atomic leftovers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from revos_sdk import Pending, Revos
from revos_sdk._delivery.spool import Spool
from revos_sdk._event import IdFactory, encode_event
from sdk_fault_server import API_KEY, FAST, FaultServer, wait_until

ids = IdFactory()


def payload() -> bytes:
    return encode_event(ids(), "c1", "llm.tokens")


def files(directory: Path, suffix: str = "") -> list[str]:
    return sorted(
        p.name for p in directory.iterdir() if p.name.endswith(suffix) and not p.name.endswith(".lock")
    )


def test_a_memory_backed_segment_is_deleted_once_every_event_is_acked(spool_dir: Path) -> None:
    spool = Spool(spool_dir, segment_events=3)
    segments = [spool.append(payload(), memory_backed=True) for _ in range(5)]
    assert len(files(spool_dir, ".wal")) == 2  # rotated after 3 events
    first, second = segments[0], segments[3]
    spool.ack(first, 3)
    assert len(files(spool_dir, ".wal")) == 1
    spool.ack(second, 2)
    spool.maintain(queue_is_low=True, idle_rotate=0.0)
    assert files(spool_dir) == []
    spool.close()


def test_spill_segments_become_replayable_when_the_queue_drains(spool_dir: Path) -> None:
    spool = Spool(spool_dir)
    written = [payload() for _ in range(4)]
    for data in written:
        spool.append(data, memory_backed=False)
    assert spool.spilling and not spool.has_replayable
    spool.maintain(queue_is_low=False)
    assert not spool.has_replayable
    spool.maintain(queue_is_low=True)
    assert not spool.spilling
    path = spool.next_replayable()
    assert path is not None
    assert [item.payload for item in Spool.read(path)] == written
    Spool.remove(path)
    spool.close()
    assert files(spool_dir) == []


def test_a_live_owner_keeps_its_segments_and_a_closed_one_leaves_them_for_adoption(spool_dir: Path) -> None:
    first, second = Spool(spool_dir), Spool(spool_dir)
    written = [payload() for _ in range(3)]
    for data in written:
        first.append(data, memory_backed=True)
    assert second.adopt() == 0
    first.close()  # Events never acked: they must be delivered by someone else.
    assert second.adopt() == 1
    path = second.next_replayable()
    assert path is not None and [i.payload for i in Spool.read(path)] == written
    second.close()


def test_a_torn_last_line_is_skipped(spool_dir: Path) -> None:
    spool = Spool(spool_dir)
    good = payload()
    spool.append(good, memory_backed=False)
    spool.close()
    [name] = files(spool_dir)
    with (spool_dir / name).open("ab") as f:
        f.write(b'{"id": "torn", "cust')
    reader = Spool(spool_dir)
    assert reader.adopt() == 1
    path = reader.next_replayable()
    assert path is not None and [i.payload for i in Spool.read(path)] == [good]
    reader.close()


def test_leftovers_are_saved_and_only_fully_covered_segments_deleted(spool_dir: Path) -> None:
    spool = Spool(spool_dir, segment_events=2)
    a = [Pending(f"a{i}", payload(), None) for i in range(2)]
    a = [item._replace(segment=spool.append(item.payload, memory_backed=True)) for item in a]
    b = [Pending(f"b{i}", payload(), None) for i in range(2)]
    b = [item._replace(segment=spool.append(item.payload, memory_backed=True)) for item in b]
    spool.ack(a[0].segment, 1)  # type: ignore[arg-type]
    # a[1] is undelivered and handed over; b[1] "raced" with shutdown and is not in the leftovers.
    spool.save_leftovers([a[1], b[0]], [])
    names = files(spool_dir)
    assert len([n for n in names if n.endswith(".spill")]) == 1
    assert len([n for n in names if n.endswith(".wal")]) == 1  # b's segment survives: b[1] is only there
    assert not [n for n in names if n.endswith(".tmp")]
    spill = next(spool_dir / n for n in names if n.endswith(".spill"))
    assert [i.payload for i in Spool.read(spill)] == [a[1].payload, b[0].payload]
    spool.close()


def test_durable_mode_fsyncs_inside_track(spool_dir: Path) -> None:
    spool = Spool(spool_dir, fsync_interval=0)
    spool.append(payload(), memory_backed=True)
    assert len(files(spool_dir, ".wal")) == 1
    spool.close()


def client(server: FaultServer, spool_dir: Path, **options: Any) -> Revos:
    return Revos(api_key=API_KEY, base_url=server.url, spool_dir=spool_dir, **{**FAST, **options})


def test_a_full_queue_spills_to_disk_and_everything_arrives_later(
    server: FaultServer, spool_dir: Path
) -> None:
    server.stop()
    revos = client(server, spool_dir, max_queue_size=20, max_batch_events=10)
    tracked = {revos.track("c1", "llm.tokens") for _ in range(500)}
    stats = revos.stats()
    assert stats["dropped"] == 0 and stats["spooled"] >= 450 and stats["enqueued"] == 500
    server.start()
    wait_until(lambda: tracked <= server.unique_ids, 20)
    revos.close()
    assert server.unique_ids == tracked
    assert files(spool_dir) == []


def test_spool_files_are_gone_after_a_clean_run(server: FaultServer, spool_dir: Path) -> None:
    with client(server, spool_dir) as revos:
        tracked = {revos.track("c1", "llm.tokens") for _ in range(300)}
        assert revos.flush(10)
    assert server.unique_ids == tracked and server.duplicates() == 0
    assert list(spool_dir.iterdir()) == []
