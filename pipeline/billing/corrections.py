"""Corrections of charged usage: a void or amend re-prices the charge, moves the difference through the
ledger and recounts its metered usage."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from decimal import Decimal

from pipeline.billing import ledger, metering, pricing
from pipeline.billing import state as partition_state
from pipeline.billing.ledger import Allocation
from pipeline.billing.state import AMENDED, VOIDED, BatchResult, Correction, PartitionState
from pipeline.errors import UnpricedError
from pipeline.money import CONTEXT, ZERO
from pipeline.records import UsageCorrected, UsageRecorded


def correct(state: PartitionState, out: BatchResult, offset: int, c: UsageCorrected) -> None:
    target = (c.tenant_id, c.target_event_id)
    charge = state.charges.get(target)

    def reject(code: str, message: str) -> None:
        partition_state.reject(out, offset, code, message, c.tenant_id, c.event_id)
        out.corrections.append(Correction(c, "rejected", code, message))

    if charge is None or charge.customer != c.customer:
        reject("event_not_found", f"no charged event {c.target_event_id!r} for customer {c.customer!r}")
        return
    if charge.status == VOIDED:
        if c.action == "void":
            out.corrections.append(Correction(c, "unchanged", None, None, ZERO, ZERO))  # already voided
        else:
            reject("event_voided", f"event {c.target_event_id!r} was voided and cannot be amended")
        return
    account = partition_state.account(state, c.tenant_id, c.customer)
    detail = {"correction_id": c.event_id, "action": c.action}
    if c.action == "void":
        updated = replace(charge, credits=ZERO, cost=None if charge.cost is None else ZERO, status=VOIDED)
    else:
        amended = UsageRecorded(
            event_id=charge.event_id,
            tenant_id=charge.tenant_id,
            customer=charge.customer,
            type=charge.type,
            timestamp=charge.event_time,
            quantity=charge.quantity if c.quantity is None else c.quantity,
            properties=charge.properties if c.properties is None else c.properties,
        )
        versions = [
            v
            for v in state.catalog.get((c.tenant_id, charge.burn_table), [])
            if v.version == charge.burn_table_version
        ]
        try:
            quote = pricing.price(versions, amended)  # the version that priced the original
        except UnpricedError as exc:
            reject(exc.code, exc.message)
            return
        updated = replace(
            charge,
            quantity=amended.quantity,
            properties=amended.properties,
            credits=quote.credits,
            cost=quote.cost,
            status=AMENDED,
        )
    difference = CONTEXT.subtract(updated.credits, charge.credits)
    if difference > 0:
        account, more, entries = ledger.charge(
            account, difference, charge.event_time, charge.event_id, ledger.CORRECTION, detail
        )
    elif difference < 0:
        account, more, entries = ledger.refund(
            account, CONTEXT.minus(difference), charge.allocations, charge.event_id, c.occurred_at,
            charge.event_time, detail,
        )  # fmt: skip
    else:
        more, entries = (), []
    updated = replace(updated, allocations=net_allocations((*charge.allocations, *more)))
    partition_state.moved(state, out, account, entries)
    metering.count(state, out, charge, -1)
    if updated.status != VOIDED:
        metering.count(state, out, updated, 1)
    state.charges[target] = updated
    out.corrected[target] = updated
    out.corrections.append(Correction(c, "applied", None, None, charge.credits, updated.credits))


def net_allocations(allocations: Iterable[Allocation]) -> tuple[Allocation, ...]:
    """Allocations summed per grant (None: debt), in first-seen order, dropping those netting to zero."""
    totals: dict[str | None, Decimal] = {}
    for a in allocations:
        totals[a.grant_id] = CONTEXT.add(totals.get(a.grant_id, ZERO), a.credits)
    return tuple(Allocation(g, c) for g, c in totals.items() if c != 0)
