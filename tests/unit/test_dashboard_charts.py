"""The usage charts' figures: per-day series with the rest summed as others, balances carried over days
without a movement, agent labels, and the data the page's script draws."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from gateway.dashboard import charts

D1, D2, D3 = date(2026, 3, 1), date(2026, 3, 2), date(2026, 3, 3)
DAYS = charts.span(D1, D3)


def test_span_counts_both_ends() -> None:
    assert DAYS == (D1, D2, D3)
    assert charts.span(D2, D2) == (D2,)


def test_the_largest_keys_get_a_series_each_and_the_rest_one_summed_series() -> None:
    rows = [
        (D1, "a", Decimal("1.5")),
        (D3, "a", Decimal("1")),
        (D2, "b", Decimal("7")),
        (D1, "c", Decimal("0.25")),
        (D2, "d", Decimal("0.5")),
        (D2, None, Decimal("0.125")),  # already summed by the query
    ]
    chart = charts.per_day(DAYS, rows, unit="credits", top=2, others="Other customers")
    assert [(s.label, s.values, s.others) for s in chart.series] == [
        ("b", (Decimal(0), Decimal(7), Decimal(0)), False),
        ("a", (Decimal("1.5"), Decimal(0), Decimal(1)), False),
        ("Other customers", (Decimal("0.25"), Decimal("0.625"), Decimal(0)), True),
    ]
    assert [total for _, _, total in chart.rows()] == [Decimal("1.75"), Decimal("7.625"), Decimal(1)]
    assert chart.data()["series"][2] == {
        "label": "Other customers",
        "others": True,
        "values": ["0.25", "0.625", "0"],
        "total": "0.875",
    }
    assert chart.data()["x"][:2] == [1772323200, 1772323200 + 86400]  # UTC midnights, in seconds


def test_ties_are_broken_by_name_and_no_rows_make_an_empty_chart() -> None:
    rows = [(D1, "z", Decimal(1)), (D1, "y", Decimal(1))]
    chart = charts.per_day(DAYS, rows, unit="credits", top=1, others="Others")
    assert [s.label for s in chart.series] == ["y", "Others"]
    assert charts.per_day(DAYS, [], unit="credits", top=5, others="Others").empty


def test_a_balance_is_carried_over_days_without_a_movement() -> None:
    chart = charts.carried(DAYS, "Balance", None, [(D2, Decimal("-3.5"))], "credits")
    assert chart.series[0].values == (None, Decimal("-3.5"), Decimal("-3.5"))
    assert chart.kind == "steps" and chart.data()["series"][0]["values"] == [None, "-3.5", "-3.5"]
    opened = charts.carried(DAYS, "Balance", Decimal(10), [(D3, Decimal(4))], "credits")
    assert opened.series[0].values == (Decimal(10), Decimal(10), Decimal(4))
    assert charts.carried(DAYS, "Balance", None, [], "credits").empty


def test_agents_are_labelled_by_name_unless_the_name_is_shared_or_missing() -> None:
    labels = charts.agent_labels([("ag_1", "Support"), ("ag_2", "Sales"), ("ag_3", "Sales"), ("ag_4", None)])
    assert labels == {"ag_1": "Support", "ag_2": "Sales (ag_2)", "ag_3": "Sales (ag_3)", "ag_4": "ag_4"}


def test_bars_keep_their_order_and_exact_figures() -> None:
    chart = charts.BarChart((("big", Decimal("10.000000001")), ("small", Decimal("2.50"))), "credits")
    assert chart.data() == {
        "kind": "bars",
        "unit": "credits",
        "labels": ["big", "small"],
        "values": ["10.000000001", "2.5"],
    }
