"""Entitlements and holds as stored: what the entitlement and hold routes read and wait for."""

from __future__ import annotations

HOLD_DECIDED = "SELECT status FROM holds WHERE tenant_id = $1 AND hold_id = $2"
HOLD_ENDED = "SELECT 1 FROM holds WHERE tenant_id = $1 AND hold_id = $2 AND status <> 'placed'"
HOLD = "SELECT hold_id, customer, credits, expires_at, event_id, status, ended_at FROM holds WHERE tenant_id = $1 AND hold_id = $2"

CURRENT = """
SELECT feature, kind, enabled, "limit", event_type, match, allowance, period
FROM entitlements WHERE tenant_id = $1 AND customer = $2 AND feature = $3
"""
APPLIED = (
    "SELECT 1 FROM entitlements WHERE tenant_id = $1 AND customer = $2 AND feature = $3 AND event_id = $4"
)
