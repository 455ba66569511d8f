"""Number formats shared by the sections of the `revos bench` report."""

from __future__ import annotations


def n(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def ms(value: float) -> str:
    return f"{value:,.1f}"


def x(numerator: float | None, denominator: float | None) -> str:
    if not numerator or not denominator:
        return "-"
    return f"{numerator / denominator:.2f}x"


def ratio(ratio: float | None) -> str:
    return "-" if ratio is None else f"{ratio:.2f}x"


def pair(label: str, p50: float | None, p99: float | None) -> str:
    return f"  {label:<42}{opt_ms(p50):>10}{opt_ms(p99):>10}"


def opt_ms(value: float | None) -> str:
    return "-" if value is None else ms(value)


def times(ratio: float | None) -> str:
    return "-" if ratio is None else f"{ratio:.1f}x"
