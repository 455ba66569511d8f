"""The event publisher on aiokafka (`KafkaPublisher`, its partitioner) and topic creation."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Sequence

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError
from aiokafka.partitioner import murmur2

from pipeline.publishing import BrokerUnavailable, Delivered, Outgoing

_SPREAD = random.Random()  # our own: never the process's global `random` state

log = logging.getLogger(__name__)


class CachedPartitioner:
    """aiokafka's default partitioning (murmur2 of the key), remembering keys: the hash is pure Python
    and the same customers send again and again."""

    def __init__(self, size: int = 100_000) -> None:
        self._hashes: dict[bytes, int] = {}
        self._size = size

    def __call__(self, key: bytes | None, all_partitions: list[int], available: list[int]) -> int:
        if key is None:
            return _SPREAD.choice(available or all_partitions)
        h = self._hashes.get(key)
        if h is None:
            if len(self._hashes) >= self._size:
                self._hashes.clear()
            h = self._hashes[key] = murmur2(key) & 0x7FFFFFFF
        return all_partitions[h % len(all_partitions)]


class KafkaPublisher:
    """Publisher over aiokafka with acks=all; a broker that does not answer in time is BrokerUnavailable."""

    def __init__(self, bootstrap_servers: str, *, timeout: float = 10.0, linger_ms: int = 2) -> None:
        self._producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap_servers,
            acks="all",
            linger_ms=linger_ms,
            max_batch_size=1 << 20,
            max_request_size=4 << 20,
            request_timeout_ms=int(timeout * 1000),
            enable_idempotence=False,  # the embedded broker lacks InitProducerId; effects are idempotent instead
            partitioner=CachedPartitioner(),
        )
        self._timeout = timeout
        self._started = False

    async def start(self) -> None:
        try:
            await asyncio.wait_for(self._producer.start(), self._timeout)
        except (KafkaError, OSError, TimeoutError) as exc:
            await self._producer.stop()
            raise BrokerUnavailable(f"cannot reach the broker: {exc}") from exc
        self._started = True

    async def stop(self) -> None:
        await self._producer.stop()

    async def publish(self, records: Sequence[Outgoing]) -> list[Delivered]:
        if not records:
            return []
        try:
            async with asyncio.timeout(self._timeout):
                futures = [
                    await self._producer.send(
                        r.topic, r.value, key=r.key, partition=r.partition, headers=list(r.headers) or None
                    )
                    for r in records
                ]
                metadata = await asyncio.gather(*futures)
        except (KafkaError, OSError, TimeoutError) as exc:
            # A broker that restarted, or topics made again, leave the cached metadata wrong, and some
            # errors (UnknownError) do not refresh it: the next attempt should not meet the same.
            self._producer.client.force_metadata_update()
            raise BrokerUnavailable(f"the broker did not acknowledge the records: {exc!r}") from exc
        return [Delivered(m.topic, m.partition, m.offset) for m in metadata]

    async def partitions(self, topic: str) -> list[int]:
        try:
            async with asyncio.timeout(self._timeout):
                found = await self._producer.partitions_for(topic)
        except (KafkaError, OSError, TimeoutError) as exc:
            raise BrokerUnavailable(f"cannot read partitions of {topic}: {exc!r}") from exc
        return sorted(found)


async def list_topics(bootstrap_servers: str) -> set[str]:
    """The topics the broker has; BrokerUnavailable if it does not answer."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=5000)
    try:
        await admin.start()
        try:
            return set(await admin.list_topics())
        finally:
            await admin.close()
    except (KafkaError, OSError, TimeoutError) as exc:
        raise BrokerUnavailable(f"cannot list the broker's topics: {exc!r}") from exc


async def recreate_misshapen(bootstrap_servers: str, topics: Sequence[str], partitions: int) -> list[str]:
    """Delete the `topics` whose partition count is not `partitions` and create them again; returns them.

    Only for a log known to be new: a broker that creates topics on first use gives them its own
    partition count, and a record written to a partition that does not exist waits forever.
    """
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=10000)
    await admin.start()
    recreated: list[str] = []
    try:
        for _ in range(5):  # a producer may create one again between the delete and the create
            described = await admin.describe_topics(list(topics))
            wrong = [d["topic"] for d in described if len(d["partitions"]) not in (0, partitions)]
            if not wrong:
                break
            await admin.delete_topics(wrong)
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics([NewTopic(t, partitions, 1) for t in wrong])
            recreated += wrong
            log.warning(
                "recreated %s with %d partitions (the broker made them on first use)", wrong, partitions
            )
        return recreated
    finally:
        await admin.close()


async def ensure_topics(bootstrap_servers: str, topics: Sequence[str], partitions: int) -> list[str]:
    """Create missing topics with `partitions` partitions; returns the ones created (new, empty logs)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=10000)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [NewTopic(t, partitions, 1) for t in topics if t not in existing]
        if not missing:
            return []
        try:
            await admin.create_topics(missing)
        except TopicAlreadyExistsError:
            return []  # another process created them first, and reports them
        log.info("created topics %s", [t.name for t in missing])
        return [t.name for t in missing]
    finally:
        await admin.close()
