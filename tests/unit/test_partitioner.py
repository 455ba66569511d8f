"""The gateway's cached partitioner must place keys exactly where aiokafka's default one does."""

from __future__ import annotations

from aiokafka.partitioner import DefaultPartitioner

from infra.kafka import CachedPartitioner


def test_cached_partitioner_agrees_with_the_default_for_every_key_and_size() -> None:
    cached = CachedPartitioner(size=50)  # small, so the cache is also cleared and refilled
    for partitions in ([0], list(range(3)), list(range(8)), list(range(32))):
        for i in range(300):
            key = f"ten_{i % 7}:cust_{i}".encode()
            assert cached(key, partitions, partitions) == DefaultPartitioner()(key, partitions, partitions)
            assert cached(key, partitions, partitions) == DefaultPartitioner()(key, partitions, partitions)


def test_keyless_records_go_to_an_available_partition() -> None:
    assert {CachedPartitioner()(None, [0, 1, 2], [2]) for _ in range(20)} == {2}
