"""The billing projection's writer: persists a fold's result in the transaction that advances its offset."""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg
import orjson

from pipeline.billing.ledger import REFUND_PREFIX
from pipeline.billing.state import BatchResult, PartitionState
from pipeline.money import format_decimal
from pipeline.webhooks.endpoints import BALANCE_THRESHOLD_CROSSED, GRANT_EXPIRED
from projections.billing import charges
from projections.billing.burn_rules import rules_to_json
from projections.webhooks import fanout

INSERT_GRANTS = """
INSERT INTO grants (tenant_id, customer, grant_id, amount, remaining, priority, effective_at, expires_at,
                    reason, granted_at, granted_by, event_id)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::numeric[], $4::numeric[], $5::integer[],
                     $6::timestamptz[], $7::timestamptz[], $8::text[], $9::timestamptz[], $10::text[],
                     $11::text[])
ON CONFLICT (tenant_id, customer, grant_id) DO NOTHING
"""

UPDATE_REMAINING = """
UPDATE grants g SET remaining = u.remaining, amount = u.amount, status = u.status,
    closed_at = CASE WHEN g.status = 'active' AND u.status <> 'active' THEN clock_timestamp() ELSE g.closed_at END
FROM unnest($1::text[], $2::text[], $3::text[], $4::numeric[], $5::numeric[], $6::text[])
    AS u (tenant_id, customer, grant_id, remaining, amount, status)
WHERE g.tenant_id = u.tenant_id AND g.customer = u.customer AND g.grant_id = u.grant_id
  AND (g.remaining, g.amount, g.status) IS DISTINCT FROM (u.remaining, u.amount, u.status)
"""

UPSERT_CUSTOMERS = """
INSERT INTO customers (tenant_id, customer, debt, burn_table, credit_limit, updated_at, ledger_seq, ledger_balance,
                       alert_thresholds, alerts_fired)
SELECT u.tenant_id, u.customer, u.debt, u.burn_table, u.credit_limit, clock_timestamp(), u.seq, u.balance,
       string_to_array(u.thresholds, ',')::numeric[], string_to_array(u.fired, ',')::numeric[]
FROM unnest($1::text[], $2::text[], $3::numeric[], $4::text[], $5::numeric[], $6::bigint[], $7::numeric[],
            $8::text[], $9::text[])
    AS u (tenant_id, customer, debt, burn_table, credit_limit, seq, balance, thresholds, fired)
ON CONFLICT (tenant_id, customer) DO UPDATE
SET debt = EXCLUDED.debt, burn_table = EXCLUDED.burn_table, credit_limit = EXCLUDED.credit_limit,
    updated_at = EXCLUDED.updated_at, ledger_seq = EXCLUDED.ledger_seq, ledger_balance = EXCLUDED.ledger_balance,
    alert_thresholds = EXCLUDED.alert_thresholds, alerts_fired = EXCLUDED.alerts_fired
"""

SET_METADATA = """
UPDATE customers SET metadata = $3, settings_event_id = $4 WHERE tenant_id = $1 AND customer = $2
"""

INSERT_VERSION = """
INSERT INTO burn_table_versions (tenant_id, name, version, effective_at, rules, event_id, published_at,
                                 published_by)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
ON CONFLICT (tenant_id, name, version) DO NOTHING
"""

INSERT_VERSION_SEEN = """
INSERT INTO burn_table_partitions (tenant_id, name, version, topic, partition) VALUES ($1, $2, $3, $4, $5)
ON CONFLICT DO NOTHING
"""


async def write(
    conn: asyncpg.Connection,
    *,
    topic: str,
    partition: int,
    state: PartitionState,
    result: BatchResult,
) -> None:
    """Write one partition's batch result; call inside the transaction that advances its offset."""
    if result.charges:
        await charges.insert(conn, result.charges, topic=topic, partition=partition)
    if result.grants:
        g = result.grants
        await conn.execute(
            INSERT_GRANTS,
            [x.tenant_id for x in g],
            [x.customer for x in g],
            [x.grant_id for x in g],
            [x.amount for x in g],
            [x.priority for x in g],
            [x.effective_at for x in g],
            [x.expires_at for x in g],
            [x.reason for x in g],
            [x.occurred_at for x in g],
            [x.actor for x in g],
            [x.event_id for x in g],
        )
    if result.touched:
        accounts = [state.accounts[k] for k in sorted(result.touched)]
        grants = [(a, g) for a in accounts for g in a.grants]
        refunds = [(a, g) for a, g in grants if g.grant_id.startswith(REFUND_PREFIX)]
        if refunds:
            now = datetime.now(UTC)
            await conn.execute(
                INSERT_GRANTS,
                [a.tenant_id for a, _ in refunds],
                [a.customer for a, _ in refunds],
                [g.grant_id for _, g in refunds],
                [g.amount for _, g in refunds],
                [g.priority for _, g in refunds],
                [g.effective_at for _, g in refunds],
                [g.expires_at for _, g in refunds],
                ["refund of corrected usage" for _ in refunds],
                [now for _ in refunds],
                ["revos" for _ in refunds],
                [g.grant_id for _, g in refunds],
            )
        await conn.execute(
            UPDATE_REMAINING,
            [a.tenant_id for a, _ in grants],
            [a.customer for a, _ in grants],
            [g.grant_id for _, g in grants],
            [g.remaining for _, g in grants],
            [g.amount for _, g in grants],
            [g.status for _, g in grants],
        )
        await conn.execute(
            UPSERT_CUSTOMERS,
            [a.tenant_id for a in accounts],
            [a.customer for a in accounts],
            [a.debt for a in accounts],
            [a.burn_table for a in accounts],
            [a.credit_limit for a in accounts],
            [a.ledger_seq for a in accounts],
            [a.ledger_balance for a in accounts],
            [",".join(str(t) for t in a.alert_thresholds) for a in accounts],
            [",".join(str(t) for t in sorted(a.alerts_fired)) for a in accounts],
        )
    await _write_lifecycle(conn, topic=topic, partition=partition, result=result)
    for u in result.customers:  # after the upsert above, so the row exists
        await conn.execute(SET_METADATA, u.tenant_id, u.customer, u.metadata, u.event_id)
    for t in result.published:
        await conn.execute(
            INSERT_VERSION,
            t.tenant_id,
            t.name,
            t.version,
            t.effective_at,
            rules_to_json(t.rules),
            t.event_id,
            t.occurred_at,
            t.actor,
        )
        await conn.execute(INSERT_VERSION_SEEN, t.tenant_id, t.name, t.version, topic, partition)


INSERT_ENTRIES = """
INSERT INTO ledger_entries (tenant_id, customer, seq, kind, amount, balance, reference, at, detail)
SELECT u.t, u.c, u.s, u.k, u.a, u.b, u.r, u.at, u.d::jsonb
FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::numeric[], $6::numeric[], $7::text[],
            $8::timestamptz[], $9::text[]) AS u (t, c, s, k, a, b, r, at, d)
ON CONFLICT (tenant_id, customer, seq) DO NOTHING
"""

INSERT_CORRECTION = """
INSERT INTO corrections (tenant_id, correction_id, event_id, customer, action, status, code, message, quantity,
                         properties, credits_before, credits_after, actor, occurred_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
ON CONFLICT (tenant_id, correction_id) DO NOTHING
"""

UPSERT_ENTITLEMENT = """
INSERT INTO entitlements (tenant_id, customer, feature, kind, enabled, "limit", event_type, match, allowance,
                          period, event_id, updated_by, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
ON CONFLICT (tenant_id, customer, feature) DO UPDATE
SET kind = EXCLUDED.kind, enabled = EXCLUDED.enabled, "limit" = EXCLUDED."limit",
    event_type = EXCLUDED.event_type, match = EXCLUDED.match, allowance = EXCLUDED.allowance,
    period = EXCLUDED.period, event_id = EXCLUDED.event_id, updated_by = EXCLUDED.updated_by,
    updated_at = EXCLUDED.updated_at
"""

ADD_USAGE = """
INSERT INTO usage_counters (tenant_id, customer, feature, period_start, used)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::numeric[])
ON CONFLICT (tenant_id, customer, feature, period_start) DO UPDATE
SET used = usage_counters.used + EXCLUDED.used
"""

INSERT_ALERTS = """
INSERT INTO alerts (alert_id, tenant_id, customer, threshold, balance, ledger_seq, occurred_at)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::numeric[], $5::numeric[], $6::bigint[],
                     $7::timestamptz[])
ON CONFLICT (alert_id) DO NOTHING
"""

SET_WATERMARK = """
INSERT INTO watermarks (topic, partition, emitted_at) VALUES ($1, $2, $3)
ON CONFLICT (topic, partition) DO UPDATE
SET emitted_at = GREATEST(watermarks.emitted_at, EXCLUDED.emitted_at), applied_at = clock_timestamp()
"""

INSERT_HOLD = """
INSERT INTO holds (tenant_id, hold_id, customer, credits, expires_at, event_id, status, actor, occurred_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
ON CONFLICT (tenant_id, hold_id) DO NOTHING
"""

END_HOLD = """
UPDATE holds SET status = $3, ended_at = clock_timestamp()
WHERE tenant_id = $1 AND hold_id = $2 AND status = 'placed'
"""


async def _write_lifecycle(
    conn: asyncpg.Connection, *, topic: str, partition: int, result: BatchResult
) -> None:
    """Ledger entries, corrections, entitlements, usage counters, alerts and the watermark."""
    if result.entries:
        e = result.entries
        await conn.execute(
            INSERT_ENTRIES,
            [k[0] for k, _ in e],
            [k[1] for k, _ in e],
            [x.seq for _, x in e],
            [x.kind for _, x in e],
            [x.amount for _, x in e],
            [x.balance for _, x in e],
            [x.reference for _, x in e],
            [x.at for _, x in e],
            [orjson.dumps(dict(x.detail)).decode() for _, x in e],
        )
    if result.corrected:
        await charges.correct(conn, list(result.corrected.values()))
    for k in result.corrections:
        r = k.record
        await conn.execute(
            INSERT_CORRECTION,
            r.tenant_id, r.event_id, r.target_event_id, r.customer, r.action, k.status, k.code, k.message,
            r.quantity, r.properties, k.credits_before, k.credits_after, r.actor, r.occurred_at,
        )  # fmt: skip
    for x in result.entitlements:
        await conn.execute(
            UPSERT_ENTITLEMENT,
            x.tenant_id, x.customer, x.feature, x.kind, x.enabled, x.limit, x.event_type, x.match, x.allowance,
            x.period, x.event_id, x.actor, x.occurred_at,
        )  # fmt: skip
    if result.counters:
        keys = sorted(result.counters)
        await conn.execute(
            ADD_USAGE,
            [k[0] for k in keys],
            [k[1] for k in keys],
            [k[2] for k in keys],
            [k[3] for k in keys],
            [result.counters[k] for k in keys],
        )
    if result.alerts:
        a = result.alerts
        await conn.execute(
            INSERT_ALERTS,
            [x.alert_id for x in a],
            [x.tenant_id for x in a],
            [x.customer for x in a],
            [x.threshold for x in a],
            [x.balance for x in a],
            [x.ledger_seq for x in a],
            [x.occurred_at for x in a],
        )
    for h in result.holds:
        if h.request is not None:
            q = h.request
            await conn.execute(
                INSERT_HOLD, q.tenant_id, q.hold_id, q.customer, q.credits, q.expires_at, q.event_id, h.status,
                q.actor, q.occurred_at,
            )  # fmt: skip
        else:
            await conn.execute(END_HOLD, h.tenant_id, h.hold_id, h.status)
    if result.watermark is not None:
        await conn.execute(SET_WATERMARK, topic, partition, result.watermark.emitted_at)
    await fanout.enqueue(conn, _webhook_facts(result))


def _webhook_facts(result: BatchResult) -> list[fanout.Fact]:
    """The tenants' alert webhooks of this batch: thresholds crossed and grants expired."""
    facts = [
        fanout.Fact(
            tenant_id=a.tenant_id,
            event_type=BALANCE_THRESHOLD_CROSSED,
            fact_id=a.alert_id,
            at=a.occurred_at,
            data={
                "alert_id": a.alert_id,
                "customer": a.customer,
                "threshold": format_decimal(a.threshold),
                "balance": format_decimal(a.balance),
                "ledger_seq": a.ledger_seq,
            },
        )
        for a in result.alerts
    ]
    facts += [
        fanout.Fact(
            tenant_id=tenant_id,
            event_type=GRANT_EXPIRED,
            fact_id=f"{customer}\x1f{e.reference}",
            at=e.at,
            data={
                "customer": customer,
                "grant_id": e.reference,
                "expired": format_decimal(-e.amount),
                "balance": format_decimal(e.balance),
                "ledger_seq": e.seq,
            },
        )
        for (tenant_id, customer), e in result.entries
        if e.kind == "expiry"
    ]
    return facts
