"""What a usage record sent again would meet: the fold's refusals asked in advance, and its price."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from billing.test_pricing import T0, rule, table, usage
from pipeline.billing import pricing
from pipeline.billing.replays import usage_verdict

VERSIONS = [table(1, T0 - timedelta(days=1), rule("llm.tokens", "0.5", cost="0.1"), rule("report", "50"))]


def test_a_record_now_priced_would_pass_at_the_price_the_fold_would_charge() -> None:
    record = usage("llm.tokens", "3")
    verdict = usage_verdict(record, charged_to=None, versions=VERSIONS)
    assert verdict.passes is True and verdict.code is None
    assert verdict.price == pricing.price(VERSIONS, record)
    assert verdict.price is not None and verdict.price.credits == Decimal("1.5")
    assert "charged 1.5 credits by 'default' v1" in verdict.message


def test_a_record_still_unpriced_would_be_refused_again_as_unpriced() -> None:
    for record, versions in (
        (usage("video.minutes"), VERSIONS),
        (usage("llm.tokens", at=T0 - timedelta(days=2)), VERSIONS),  # before any version
        (usage("llm.tokens"), []),
    ):
        verdict = usage_verdict(record, charged_to=None, versions=versions)
        assert (verdict.passes, verdict.code, verdict.price) == (False, "unpriced", None), record


def test_an_event_id_already_charged_changes_nothing_or_conflicts() -> None:
    record = usage("report")
    same = usage_verdict(record, charged_to=record.customer, versions=VERSIONS)
    assert (same.passes, same.code) == (False, "already_charged")
    other = usage_verdict(record, charged_to="someone_else", versions=VERSIONS)
    assert (other.passes, other.code) == (False, "duplicate_id_conflict")
    assert "someone_else" in other.message
