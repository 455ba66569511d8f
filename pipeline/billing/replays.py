"""Whether a usage record sent again now would be charged: the fold's own rules, asked in advance, so a
dead letter's dry run can say what its replay would do."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pipeline.billing import pricing
from pipeline.errors import UnpricedError
from pipeline.money import format_decimal
from pipeline.records import BurnTablePublished, UsageRecorded


@dataclass(frozen=True, slots=True)
class Verdict:
    """`passes`: True (it would be charged, at `price`), False (refused again, with `code`), or None
    (the record is not usage: nothing can be told in advance)."""

    passes: bool | None
    message: str
    code: str | None = None
    price: pricing.Price | None = None


UNKNOWN = Verdict(
    None, "this record is not a usage event; whether it passes is known only once it is applied"
)


def usage_verdict(
    usage: UsageRecorded, *, charged_to: str | None, versions: Sequence[BurnTablePublished]
) -> Verdict:
    """What the fold would do with `usage` now. `charged_to`: the customer its event id was already
    charged to, if any; `versions`: every version of the customer's burn table."""
    if charged_to == usage.customer:
        return Verdict(
            False, f"event {usage.event_id!r} was already charged; sending it again changes nothing",
            "already_charged",
        )  # fmt: skip
    if charged_to is not None:
        return Verdict(
            False, f"event id {usage.event_id!r} was already charged to customer {charged_to!r}",
            "duplicate_id_conflict",
        )  # fmt: skip
    try:
        price = pricing.price(versions, usage)
    except UnpricedError as exc:
        return Verdict(False, exc.message, exc.code)
    return Verdict(
        True,
        f"it would be charged {format_decimal(price.credits)} credits by {price.table!r} v{price.version}",
        price=price,
    )
