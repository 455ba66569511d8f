"""The burn-table page's comparison of two versions, and the rules as a person edits them."""

from __future__ import annotations

import json

from gateway.dashboard.burn_tables import STARTER, compare, rules_text

OLD = [
    {"type": "llm.tokens", "match": {}, "credits_per_unit": "0.001", "cost_per_unit": None},
    {"type": "llm.tokens", "match": {"model": "gpt-4o", "direction": "output"}, "credits_per_unit": "0.01",
     "cost_per_unit": None},
    {"type": "video.minutes", "match": {}, "credits_per_unit": "2", "cost_per_unit": None},
]  # fmt: skip
NEW = [
    {"type": "llm.tokens", "match": {"direction": "output", "model": "gpt-4o"}, "credits_per_unit": "0.01",
     "cost_per_unit": "0.004"},
    {"type": "llm.tokens", "match": {}, "credits_per_unit": "0.001", "cost_per_unit": None},
    {"type": "research.completed", "match": {"tier": 2}, "credits_per_unit": "50", "cost_per_unit": None},
]  # fmt: skip


def test_rules_pair_up_by_type_and_match_whatever_their_order() -> None:
    lines = compare(OLD, NEW)
    assert [(line.type, line.match, line.change) for line in lines] == [
        ("llm.tokens", "direction = output, model = gpt-4o", "changed"),  # a cost per unit appeared
        ("llm.tokens", "any properties", "same"),
        ("research.completed", "tier = 2", "added"),
        ("video.minutes", "any properties", "removed"),
    ]
    assert lines[0].older == OLD[1] and lines[0].newer == NEW[0]


def test_one_version_alone_is_all_new() -> None:
    assert {line.change for line in compare([], NEW)} == {"added"}


def test_rules_text_is_one_rule_a_line_and_reads_back_as_the_same_rules() -> None:
    text = rules_text(NEW)
    assert text.count("\n") == len(NEW) + 1
    assert json.loads(text) == [
        {"type": "llm.tokens", "match": {"direction": "output", "model": "gpt-4o"}, "credits_per_unit": "0.01",
         "cost_per_unit": "0.004"},
        {"type": "llm.tokens", "credits_per_unit": "0.001"},
        {"type": "research.completed", "match": {"tier": 2}, "credits_per_unit": "50"},
    ]  # fmt: skip
    assert json.loads(rules_text(STARTER)) == STARTER
