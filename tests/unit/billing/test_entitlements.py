"""Entitlements: what a request must meet to become a record, and how the real-time check decides (no I/O)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from pipeline.billing.entitlements import CheckRequest, Entitlement, Standing, Verdict, decide
from pipeline.billing.validation import entitlements as entitlement_validation
from pipeline.errors import ValidationError

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def entitlement(raw: object, feature: str = "reports", customer: str = "cus_1") -> Any:
    return entitlement_validation.entitlement(
        raw, tenant_id="ten_1", customer=customer, feature=feature, actor="key:k1", now=NOW
    )


def refused(fn: Any, raw: object, code: str, **kwargs: Any) -> ValidationError:
    with pytest.raises(ValidationError) as info:
        fn(raw, **kwargs)
    assert info.value.code == code, info.value.message
    return info.value


# validation: PUT /v1/customers/{customer}/entitlements/{feature}


def test_a_boolean_entitlement_keeps_only_enabled() -> None:
    record = entitlement({"kind": "boolean", "enabled": False})
    assert (record.tenant_id, record.customer, record.feature, record.kind, record.enabled) == (
        "ten_1",
        "cus_1",
        "reports",
        "boolean",
        False,
    )
    assert (record.limit, record.event_type, record.match, record.allowance, record.period) == (
        None,
        None,
        {},
        None,
        None,
    )
    assert record.actor == "key:k1" and record.occurred_at == NOW
    assert (
        record.event_id.startswith("evt_")
        and record.event_id != entitlement({"kind": "boolean", "enabled": True}).event_id
    )


def test_a_limit_entitlement_is_a_non_negative_decimal() -> None:
    record = entitlement({"kind": "limit", "limit": "5"})
    assert (record.kind, record.limit, record.enabled, record.allowance) == ("limit", Decimal(5), None, None)
    assert entitlement({"kind": "limit", "limit": 0}).limit == 0
    refused(entitlement, {"kind": "limit", "limit": "-1"}, "negative_decimal")
    refused(entitlement, {"kind": "limit", "limit": "lots"}, "invalid_decimal")
    refused(entitlement, {"kind": "limit"}, "invalid_decimal")


def test_a_metered_entitlement_has_every_field() -> None:
    record = entitlement(
        {
            "kind": "metered",
            "event_type": "report.completed",
            "match": {"tier": "deep", "pages": 3},
            "allowance": "2.5",
            "period": "day",
        }
    )
    assert (record.kind, record.event_type, record.match, record.allowance, record.period) == (
        "metered",
        "report.completed",
        {"tier": "deep", "pages": 3},
        Decimal("2.5"),
        "day",
    )
    assert (record.enabled, record.limit) == (None, None)
    minimal = entitlement({"kind": "metered", "event_type": "t", "allowance": 3, "period": "month"})
    assert minimal.match == {} and minimal.period == "month" and minimal.allowance == 3


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"kind": "metered", "event_type": "t", "allowance": "1", "period": "week"}, "invalid_period"),
        ({"kind": "metered", "event_type": "t", "allowance": "1"}, "invalid_period"),
        ({"kind": "metered", "event_type": "t", "allowance": "1", "period": ["day"]}, "invalid_period"),
        ({"kind": "metered", "allowance": "1", "period": "day"}, "invalid_event_type"),
        ({"kind": "metered", "event_type": "t", "allowance": "-1", "period": "day"}, "negative_decimal"),
        ({"kind": "metered", "event_type": "t", "allowance": "1", "period": "day", "match": {"a": [1]}},
         "invalid_properties"),
        ({"kind": "boolean"}, "invalid_entitlement"),
        ({"kind": "boolean", "enabled": "yes"}, "invalid_entitlement"),
        ({"kind": "boolean", "enabled": True, "limit": "3"}, "invalid_entitlement"),
        ({"kind": "limit", "limit": "3", "allowance": "3"}, "invalid_entitlement"),
        ({"kind": "metered", "event_type": "t", "allowance": "1", "period": "day", "enabled": True},
         "invalid_entitlement"),
        ({"kind": "quota", "limit": "3"}, "invalid_entitlement_kind"),
        ({"kind": ["boolean"], "enabled": True}, "invalid_entitlement_kind"),
        ({"enabled": True}, "invalid_entitlement_kind"),
        ({"kind": "boolean", "enabled": True, "plan": "pro"}, "unknown_field"),
        (["boolean"], "invalid_type"),
    ],
)  # fmt: skip
def test_bad_entitlements_are_refused_with_a_stable_code(body: object, code: str) -> None:
    refused(entitlement, body, code)


def test_the_feature_and_customer_names_are_identifiers() -> None:
    refused(entitlement, {"kind": "boolean", "enabled": True}, "invalid_feature", feature=" ")
    refused(entitlement, {"kind": "boolean", "enabled": True}, "invalid_feature", feature="x" * 201)
    refused(entitlement, {"kind": "boolean", "enabled": True}, "invalid_customer", customer="a\x00b")


# validation: POST /v1/check


def test_a_check_needs_a_customer_and_defaults_to_no_feature_and_no_credits() -> None:
    assert entitlement_validation.check({"customer": "c1"}) == CheckRequest("c1", None, Decimal(0))
    assert entitlement_validation.check({"customer": "c1", "feature": "f", "credits": "2.5"}) == CheckRequest(
        "c1", "f", Decimal("2.5")
    )


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({}, "invalid_customer"),
        ({"customer": ""}, "invalid_customer"),
        ({"customer": "c1", "feature": 3}, "invalid_feature"),
        ({"customer": "c1", "credits": "-1"}, "negative_decimal"),
        ({"customer": "c1", "credits": "many"}, "invalid_decimal"),
        ({"customer": "c1", "credits": None}, "invalid_decimal"),
        ({"customer": "c1", "amount": "1"}, "unknown_field"),
        ("c1", "invalid_type"),
    ],
)
def test_bad_checks_are_refused_with_a_stable_code(body: object, code: str) -> None:
    refused(entitlement_validation.check, body, code)


# the check itself


def ask(feature: str | None = None, credits: str = "0") -> CheckRequest:
    return CheckRequest("c1", feature, Decimal(credits))


def standing(balance: str = "10", credit_limit: str = "0", e: Entitlement | None = None) -> Standing:
    return Standing(Decimal(balance), Decimal(credit_limit), e)


def metered(allowance: str, used: str) -> Entitlement:
    return Entitlement("metered", allowance=Decimal(allowance), used=Decimal(used))


def test_a_feature_without_an_entitlement_is_not_entitled_whatever_the_balance() -> None:
    assert decide(ask("reports"), standing("1000")) == Verdict(False, "feature_not_entitled")
    assert decide(ask(), standing("1000")) == Verdict(True, "ok")


def test_a_disabled_feature_is_refused_before_credits_are_looked_at() -> None:
    off = Entitlement("boolean", enabled=False)
    assert decide(ask("f"), standing("0", e=off)) == Verdict(False, "feature_disabled")
    on = Entitlement("boolean", enabled=True)
    assert decide(ask("f", "2"), standing("10", e=on)) == Verdict(True, "ok")


def test_a_metered_allowance_counts_down_and_is_exhausted_once_used_up() -> None:
    assert decide(ask("f"), standing(e=metered("3", "0"))) == Verdict(True, "ok", Decimal(3))
    assert decide(ask("f"), standing(e=metered("3", "2"))) == Verdict(True, "ok", Decimal(1))
    assert decide(ask("f"), standing(e=metered("3", "3"))) == Verdict(
        False, "allowance_exhausted", Decimal(0)
    )
    # Usage past the allowance (counted before the check could refuse) never shows a negative remainder.
    assert decide(ask("f"), standing(e=metered("3", "5"))) == Verdict(
        False, "allowance_exhausted", Decimal(0)
    )
    # Exhaustion wins over a shortage of credits: it is checked first.
    assert decide(ask("f", "100"), standing("0", e=metered("3", "3"))).reason == "allowance_exhausted"


def test_a_limit_is_reported_as_the_remainder_and_never_refuses_by_itself() -> None:
    cap = Entitlement("limit", limit=Decimal(5))
    assert decide(ask("agents"), standing(e=cap)) == Verdict(True, "ok", Decimal(5))
    assert decide(ask("agents", "11"), standing(e=cap)) == Verdict(False, "insufficient_credits", Decimal(5))


def test_credits_must_be_covered_by_balance_plus_credit_limit() -> None:
    assert decide(ask(credits="10"), standing("10")) == Verdict(True, "ok")
    assert decide(ask(credits="10.000000001"), standing("10")) == Verdict(False, "insufficient_credits")
    assert decide(ask(credits="2"), standing("1")) == Verdict(False, "insufficient_credits")
    assert decide(ask(credits="2"), standing("1", "10")) == Verdict(True, "ok")
    assert decide(ask(credits="12"), standing("-2", "10")) == Verdict(False, "insufficient_credits")
    assert decide(ask(credits="8"), standing("-2", "10")) == Verdict(True, "ok")


def test_with_no_credits_asked_the_balance_plus_limit_must_be_above_zero() -> None:
    assert decide(ask(), standing("0")) == Verdict(False, "insufficient_credits")  # a brand-new customer
    assert decide(ask(), standing("0.000000001")) == Verdict(True, "ok")
    assert decide(ask(), standing("-3", "3")) == Verdict(False, "insufficient_credits")
    assert decide(ask(), standing("-3", "4")) == Verdict(True, "ok")
    assert decide(ask("f"), standing("0", e=metered("3", "1"))) == Verdict(
        False, "insufficient_credits", Decimal(2)
    )
