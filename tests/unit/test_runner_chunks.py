"""The runner's transactions hold at most CHUNK_BYTES of records: runs of a partition's batch in log order."""

from __future__ import annotations

from agents.runner import Message, chunks


def message(offset: int, size: int) -> Message:
    return Message("revos.billing", 0, offset, None, b"x" * size, (), None)


def test_runs_keep_log_order_and_stay_under_the_limit() -> None:
    batch = [message(i, size) for i, size in enumerate([40, 40, 30, 90, 10, 10])]
    runs = chunks(batch, limit=100)
    assert [[m.offset for m in run] for run in runs] == [[0, 1], [2], [3, 4], [5]]
    assert [m for run in runs for m in run] == batch
    assert all(sum(len(m.value) for m in run) <= 100 for run in runs)


def test_a_record_larger_than_the_limit_goes_alone_and_nothing_is_empty() -> None:
    runs = chunks([message(0, 10), message(1, 500), message(2, 10)], limit=100)
    assert [[m.offset for m in run] for run in runs] == [[0], [1], [2]]
    assert chunks([], limit=100) == []
