"""The audit log page's reading of an entry: what changed, field by field, and who did it."""

from __future__ import annotations

from gateway.dashboard.audit import ABSENT, MAX_SHOWN, Change, actor, changes


def test_a_change_shows_only_the_fields_that_differ() -> None:
    before = {"name": "Helper", "model": "m1", "tools": [], "temperature": None}
    after = {"name": "Helper", "model": "m2", "tools": [{"name": "t"}], "temperature": None}

    assert changes(before, after) == [
        Change("model", "m1", "m2"),
        Change("tools", "[]", '[{"name":"t"}]'),
    ]


def test_a_field_that_appears_or_goes_is_a_change_even_when_null() -> None:
    assert changes({"a": None}, {"b": None}) == [Change("b", ABSENT, "null"), Change("a", "null", ABSENT)]


def test_a_thing_created_or_deleted_shows_every_field() -> None:
    assert changes(None, {"name": "Acme", "tenant_id": "ten_1"}) == [
        Change("name", ABSENT, "Acme"),
        Change("tenant_id", ABSENT, "ten_1"),
    ]
    assert changes({"key_id": "k1"}, None) == [Change("key_id", "k1", ABSENT)]


def test_plain_values_and_nothing_at_all() -> None:
    assert changes(None, None) == []
    assert changes(1, 2) == [Change("value", "1", "2")]


def test_a_long_value_is_cut_for_the_table() -> None:
    (change,) = changes(None, {"system_prompt": "x" * 1000})
    assert len(change.after) == MAX_SHOWN and change.after.endswith("…")


def test_the_actor_is_named_as_a_person_reads_it() -> None:
    emails = {"usr_1": "ada@example.com"}
    assert actor("user:usr_1", None, emails) == "ada@example.com"
    assert actor("user:usr_gone", None, emails) == "user:usr_gone"
    assert actor("key:key_1", "rk_AbCdEfG", emails) == "API key rk_AbCdEfG…"
    assert actor("cli", None, emails) == "An operator (command line)"
