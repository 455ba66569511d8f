"""The real-time check, decided purely: may a customer use a feature, and spend credits, right now?

The gateway reads a customer's standing from the projections and asks `decide`; the rules and their
order live here so they are tested without a broker or a database.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from pipeline.money import CONTEXT, ZERO

BOOLEAN, LIMIT, METERED = "boolean", "limit", "metered"
KINDS = (BOOLEAN, LIMIT, METERED)
PERIODS = ("day", "month")

# Reasons, in the order the check applies them.
NOT_ENTITLED = "feature_not_entitled"
DISABLED = "feature_disabled"
EXHAUSTED = "allowance_exhausted"
INSUFFICIENT = "insufficient_credits"
HOLD_TIMEOUT = "hold_timeout"  # the hold asked for was not decided in time (and was released)
OK = "ok"


@dataclass(frozen=True, slots=True)
class HoldRequest:
    """Reserve the checked credits until usage `event_id` is charged, released, or `ttl_seconds` pass."""

    ttl_seconds: int
    event_id: str | None = None


@dataclass(frozen=True, slots=True)
class CheckRequest:
    customer: str
    feature: str | None
    credits: Decimal = ZERO
    hold: HoldRequest | None = None


@dataclass(frozen=True, slots=True)
class Entitlement:
    """One feature's entitlement as projected, with the usage counted in the current period (metered)."""

    kind: str
    enabled: bool | None = None
    limit: Decimal | None = None
    allowance: Decimal | None = None
    used: Decimal = ZERO

    def remaining(self) -> Decimal | None:
        """What is left: the allowance not yet used (never below 0), the static limit, or None."""
        if self.kind == METERED and self.allowance is not None:
            return max(CONTEXT.subtract(self.allowance, self.used), ZERO)
        if self.kind == LIMIT:
            return self.limit
        return None


@dataclass(frozen=True, slots=True)
class Standing:
    """What the projections show for a customer: spendable balance (net of debt), credit limit, and the
    entitlement to the feature asked about (None when there is none)."""

    balance: Decimal
    credit_limit: Decimal
    entitlement: Entitlement | None = None
    on_hold: Decimal = ZERO  # credits reserved by running holds


@dataclass(frozen=True, slots=True)
class Verdict:
    allowed: bool
    reason: str
    remaining: Decimal | None = None


def decide(request: CheckRequest, standing: Standing) -> Verdict:
    """Entitlement first (not entitled, disabled, allowance used up), then credits: the balance plus the
    credit limit, minus running holds, must cover `credits`, and with `credits` 0 it must be above zero."""
    e = standing.entitlement
    if request.feature is not None and e is None:
        return Verdict(False, NOT_ENTITLED)
    remaining = None if e is None else e.remaining()
    if e is not None and e.kind == BOOLEAN and not e.enabled:
        return Verdict(False, DISABLED, remaining)
    if e is not None and e.kind == METERED and remaining is not None and remaining <= 0:
        return Verdict(False, EXHAUSTED, remaining)
    available = CONTEXT.subtract(CONTEXT.add(standing.balance, standing.credit_limit), standing.on_hold)
    short = available <= 0 if request.credits == 0 else CONTEXT.subtract(available, request.credits) < 0
    if short:
        return Verdict(False, INSUFFICIENT, remaining)
    return Verdict(True, OK, remaining)
