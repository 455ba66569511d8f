"""A process's tally of widget sightings: when a key is due, how counts add up between writes, and the
caps that bound it whatever the Origin headers; which origins are worth a sighting."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from pipeline.chat.sightings import MAX_ORIGIN_LENGTH, MemorySightings, Sighting, Tally, recordable, seen

T0 = datetime(2025, 1, 1, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def shop(allowed: bool = True, t: float = 0, origin: str = "https://shop.example.com") -> Sighting:
    return seen("ten_1", "agt_1", origin, allowed, at(t))


def test_a_first_sighting_is_due_at_once_then_its_key_waits_a_minute_with_counts_added_up() -> None:
    clock = Clock()
    tally = Tally(every=60, clock=clock)
    assert tally.saw(shop()) is True
    assert tally.due() == [Sighting("ten_1", "agt_1", "https://shop.example.com", True, at(0), at(0), 1, 0)]
    assert tally.due() == [] and len(tally) == 0

    clock.now += 10
    assert tally.saw(shop(True, 10)) is False  # written 10 s ago: it waits
    clock.now += 20
    assert tally.saw(shop(True, 30)) is False
    assert tally.saw(shop(True, 31)) is False
    assert tally.due() == [] and len(tally) == 1
    clock.now += 30  # a minute after the first write
    assert tally.due() == [Sighting("ten_1", "agt_1", "https://shop.example.com", True, at(10), at(31), 3, 0)]
    assert tally.due() == []


def test_a_changed_decision_is_due_at_once_with_what_waited() -> None:
    clock = Clock()
    tally = Tally(every=60, clock=clock)
    assert tally.saw(shop(False, 0)) is True  # refused: not in the allowlist yet
    assert len(tally.due()) == 1
    clock.now += 5
    assert tally.saw(shop(False, 5)) is False  # the same decision waits its minute
    clock.now += 5
    assert tally.saw(shop(True, 10)) is True  # the allowlist now names it: shown at once
    assert tally.due() == [Sighting("ten_1", "agt_1", "https://shop.example.com", True, at(5), at(10), 2, 1)]
    clock.now += 1
    assert tally.saw(shop(True, 11)) is False


def test_keys_are_apart_by_tenant_agent_and_origin() -> None:
    tally = Tally(clock=Clock())
    sightings = [
        seen("ten_1", "agt_1", "https://a.example", True, T0),
        seen("ten_1", "agt_1", "https://b.example", False, T0),
        seen("ten_1", "agt_2", "https://a.example", True, T0),
        seen("ten_2", "agt_1", "https://a.example", True, T0),
    ]
    assert all(tally.saw(s) for s in sightings)
    assert sorted(tally.due(), key=lambda s: s.key) == sorted(sightings, key=lambda s: s.key)


def test_the_later_decision_wins_whatever_the_order_tallies_merge_in() -> None:
    early, late = shop(True, 0), shop(False, 5)
    assert early.merged(late) == late.merged(early)
    assert early.merged(late).allowed is False
    assert early.merged(late) == Sighting(
        "ten_1", "agt_1", "https://shop.example.com", False, at(0), at(5), 2, 1
    )


def test_a_failed_write_goes_back_and_is_added_to_the_next_one_a_minute_later() -> None:
    clock = Clock()
    tally = Tally(every=60, clock=clock)
    tally.saw(shop())
    [failed] = tally.due()
    clock.now += 1
    tally.retry(failed)
    tally.saw(shop(False, 1))
    assert tally.due() == []  # not hammering a store that just failed
    clock.now += 60
    assert tally.due() == [Sighting("ten_1", "agt_1", "https://shop.example.com", False, at(0), at(1), 2, 1)]


def test_an_agent_holds_at_most_its_cap_of_origins_until_their_write_times_lapse() -> None:
    clock = Clock()
    tally = Tally(every=60, max_origins=3, clock=clock)
    for i in range(5):
        tally.saw(shop(origin=f"https://{i}.example"))
    assert tally.dropped == 2
    assert {s.origin for s in tally.due()} == {"https://0.example", "https://1.example", "https://2.example"}
    assert tally.saw(shop(origin="https://5.example")) is False and tally.dropped == 3  # written: still held
    assert tally.saw(shop(origin="https://1.example", t=1)) is False  # a held origin still counts
    assert tally.saw(seen("ten_1", "agt_2", "https://5.example", True, T0)) is True  # another agent has room
    clock.now += 60
    assert {(s.agent_id, s.origin) for s in tally.due()} == {
        ("agt_1", "https://1.example"),
        ("agt_2", "https://5.example"),
    }
    assert tally.saw(shop(origin="https://5.example")) is True  # 0 and 2 lapsed: room again
    assert tally.dropped == 3


def test_the_process_holds_at_most_its_cap_of_keys() -> None:
    tally = Tally(max_keys=2, clock=Clock())
    results = [tally.saw(seen("ten_1", f"agt_{i}", "https://a.example", True, T0)) for i in range(3)]
    assert results == [True, True, False] and tally.dropped == 1 and len(tally) == 2


def test_everything_takes_what_is_not_due_yet() -> None:
    clock = Clock()
    tally = Tally(every=60, clock=clock)
    tally.saw(shop())
    tally.due()
    tally.saw(shop(True, 1))
    assert tally.due() == []
    assert tally.everything() == [shop(True, 1)]
    assert len(tally) == 0


@pytest.mark.parametrize(
    ("origin", "worth"),
    [
        ("https://shop.example.com", True),
        ("http://localhost:8000", True),
        ("null", True),
        ("", False),
        ("https://a b.example", False),
        ("https://bad\x00.example", False),
        ("https://bad\n.example", False),
        ("https://ünicode.example", False),
        ("https://" + "a" * (MAX_ORIGIN_LENGTH - 8), True),
        ("https://" + "a" * (MAX_ORIGIN_LENGTH - 7), False),
    ],
)
def test_only_an_origin_shaped_header_is_worth_a_sighting(origin: str, worth: bool) -> None:
    assert recordable(origin) is worth


async def test_the_memory_store_adds_tallies_and_keeps_at_most_its_cap_of_origins_per_agent() -> None:
    store = MemorySightings(max_origins=2)
    assert await store.record(shop(True, 0, "https://a.example"))
    assert await store.record(shop(False, 1, "https://b.example"))
    assert not await store.record(shop(True, 2, "https://c.example"))
    assert await store.record(shop(True, 3, "https://a.example"))
    assert await store.record(seen("ten_1", "agt_2", "https://c.example", True, T0))
    listed = await store.listing("ten_1", "agt_1")
    assert [(s.origin, s.sessions, s.last_seen) for s in listed] == [
        ("https://a.example", 2, at(3)),
        ("https://b.example", 1, at(1)),
    ]
