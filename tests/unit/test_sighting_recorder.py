"""The gateway's sighting recorder over an in-memory store: a first sighting is written at once, later
ones a write per minute with their counts added up, and a store that fails, hangs or refuses costs a
log line, never a session request."""

from __future__ import annotations

import asyncio
import logging

import asyncpg
import pytest
from waiting import eventually

from gateway.chat.sightings import SightingRecorder
from pipeline.chat.sightings import MemorySightings, Sighting, Tally


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Flaky(MemorySightings):
    """A store that fails with `error` (or hangs) while told to."""

    def __init__(self) -> None:
        super().__init__()
        self.error: BaseException | None = None
        self.hang = False
        self.calls = 0

    async def record(self, sighting: Sighting) -> bool:
        self.calls += 1
        if self.hang:
            await asyncio.Event().wait()
        if self.error is not None:
            raise self.error
        return await super().record(sighting)


def counts(listed: list[Sighting]) -> dict[str, tuple[int, int, bool]]:
    return {s.origin: (s.sessions, s.refused, s.allowed) for s in listed}


async def test_counts_between_writes_are_added_to_the_next_write() -> None:
    clock, store = Clock(), MemorySightings()
    recorder = SightingRecorder(store, Tally(every=60, clock=clock))
    recorder.saw("ten_1", "agt_1", "https://shop.example.com", True)
    assert await recorder.write_due() == 1
    for _ in range(3):  # the same decision: it waits its minute
        recorder.saw("ten_1", "agt_1", "https://shop.example.com", True)
    assert await recorder.write_due() == 0
    assert counts(await store.listing("ten_1", "agt_1")) == {"https://shop.example.com": (1, 0, True)}
    clock.now += 60
    assert await recorder.write_due() == 1
    assert counts(await store.listing("ten_1", "agt_1")) == {"https://shop.example.com": (4, 0, True)}
    recorder.saw("ten_1", "agt_1", "https://shop.example.com", False)  # a new decision goes at once
    assert await recorder.write_due() == 1
    assert counts(await store.listing("ten_1", "agt_1")) == {"https://shop.example.com": (5, 1, False)}


async def test_what_is_no_origin_is_not_counted() -> None:
    store = MemorySightings()
    recorder = SightingRecorder(store)
    recorder.saw("ten_1", "agt_1", "https://" + "a" * 400, True)
    recorder.saw("ten_1", "agt_1", "https://bad\x00.example", False)
    assert await recorder.write_due() == 0
    assert await store.listing("ten_1", "agt_1") == []


async def test_a_failing_store_is_logged_and_its_tallies_are_written_once_it_is_back(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock, store = Clock(), Flaky()
    recorder = SightingRecorder(store, Tally(every=60, clock=clock))
    store.error = ConnectionRefusedError("database away")
    recorder.saw("ten_1", "agt_1", "https://a.example", True)
    recorder.saw("ten_1", "agt_1", "https://b.example", False)
    with caplog.at_level(logging.WARNING, logger="gateway.chat.sightings"):
        assert await recorder.write_due() == 0
    assert store.calls == 1  # the first failure keeps the rest for later
    assert "2 kept for later" in caplog.text
    store.error = None
    recorder.saw("ten_1", "agt_1", "https://a.example", True)
    assert await recorder.write_due() == 0  # not before a minute
    clock.now += 60
    assert await recorder.write_due() == 2
    assert counts(await store.listing("ten_1", "agt_1")) == {
        "https://a.example": (2, 0, True),
        "https://b.example": (1, 1, False),
    }


async def test_a_hanging_store_is_given_up_on_after_the_write_timeout() -> None:
    clock, store = Clock(), Flaky()
    recorder = SightingRecorder(store, Tally(every=60, clock=clock), write_timeout=0.05)
    store.hang = True
    recorder.saw("ten_1", "agt_1", "https://a.example", True)
    assert await asyncio.wait_for(recorder.write_due(), 5) == 0
    store.hang = False
    clock.now += 60
    assert await recorder.write_due() == 1


async def test_a_tally_the_store_can_never_take_is_dropped_and_the_others_still_go(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = Flaky()
    recorder = SightingRecorder(store)
    store.error = asyncpg.exceptions.CharacterNotInRepertoireError("invalid byte sequence")
    recorder.saw("ten_1", "agt_1", "https://a.example", True)
    recorder.saw("ten_1", "agt_1", "https://b.example", True)
    with caplog.at_level(logging.ERROR, logger="gateway.chat.sightings"):
        assert await recorder.write_due() == 0
    assert store.calls == 2 and "dropped" in caplog.text


async def test_a_first_sighting_is_written_without_waiting_for_the_tick_and_close_writes_the_rest() -> None:
    clock, store = Clock(), MemorySightings()
    recorder = SightingRecorder(store, Tally(every=60, clock=clock), tick=3600)
    task = asyncio.create_task(recorder.keep_writing())
    try:
        await asyncio.sleep(0)  # the task's first round runs and waits
        recorder.saw("ten_1", "agt_1", "https://a.example", True)

        async def written() -> list[Sighting]:
            return await store.listing("ten_1", "agt_1")

        await eventually(written, timeout=5, what="the first sighting written")
        recorder.saw("ten_1", "agt_1", "https://a.example", False)  # due in a minute
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    await recorder.close()
    assert counts(await store.listing("ten_1", "agt_1")) == {"https://a.example": (2, 1, False)}
