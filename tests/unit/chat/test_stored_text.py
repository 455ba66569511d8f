"""Model and tool output made storable: PostgreSQL refuses NUL and lone surrogates."""

from __future__ import annotations

from pipeline.chat.stored_text import storable, storable_json


def test_nul_characters_are_dropped() -> None:
    assert storable("ok\x00ok") == "okok"
    assert storable("\x00") == ""


def test_a_lone_surrogate_becomes_the_replacement_character() -> None:
    assert storable("a\ud800b") == "a\ufffdb"
    assert storable("a\ud800\x00b").encode("utf-8") == "a\ufffdb".encode()


def test_text_that_is_already_storable_is_unchanged() -> None:
    text = "naïve — 日本 🙂 \\u0000 stays an escape, not a NUL"
    assert storable(text) == text


def test_every_string_of_decoded_json_is_cleaned_keys_included() -> None:
    calls = [{"id": "c\x001", "function": {"name": "look\x00up", "arguments": '{"q": "a\x00"}'}, "n\x00": 3}]
    assert storable_json(calls) == [
        {"id": "c1", "function": {"name": "lookup", "arguments": '{"q": "a"}'}, "n": 3}
    ]
