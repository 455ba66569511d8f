"""Replays of dead letters: how often a record may go again, and the headers that mark it a replay."""

from __future__ import annotations

from pipeline.dead_letters import MAX_REPLAYS, replay_headers, replay_refusal
from pipeline.topics import OUTBOX_ID, REPLAY_COUNT, REPLAY_OF


def test_a_record_goes_again_at_most_max_replays_times_counting_generations_and_replays() -> None:
    assert replay_refusal(replay_count=0, replays=0) is None
    assert replay_refusal(replay_count=1, replays=1) is None
    for count, replays in ((MAX_REPLAYS, 0), (0, MAX_REPLAYS), (2, 1)):
        refusal = replay_refusal(replay_count=count, replays=replays)
        assert refusal == f"already replayed {count + replays} time(s); the limit is {MAX_REPLAYS}"


def test_a_replay_keeps_the_original_headers_and_marks_itself_once() -> None:
    original = [
        ("trace", b"a\x00b"),
        (OUTBOX_ID, b"spent"),
        (REPLAY_OF, b"dl_older"),
        (REPLAY_COUNT, b"1"),
    ]
    assert replay_headers(original, "dl_this", 1) == (
        ("trace", b"a\x00b"),
        (REPLAY_OF, b"dl_this"),
        (REPLAY_COUNT, b"2"),
    )
