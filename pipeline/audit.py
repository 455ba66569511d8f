"""The audit log's pure core: building audit records and the per-tenant hash chain that makes it tamper-evident.

Each entry's hash is SHA-256 over the previous entry's hash and the entry's canonical JSON, so changing,
removing or reordering any entry breaks every hash after it.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import orjson

from pipeline.money import format_decimal
from pipeline.records import AuditRecorded

GENESIS = "0" * 64


@dataclass(frozen=True, slots=True)
class Entry:
    """An audit entry as stored: its position in the tenant's chain and the hashes that seal it."""

    tenant_id: str
    seq: int
    audit_id: str
    actor: str
    action: str
    target: str
    before: Any
    after: Any
    request_id: str | None
    occurred_at: datetime
    prev_hash: str
    hash: str


def _plain(value: Any) -> str:
    """Decimals as the API writes them ("0", not "0E-9"); anything else orjson cannot encode as text."""
    return format_decimal(value) if isinstance(value, Decimal) else str(value)


def _json(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS, default=_plain).decode()


def record(
    *,
    tenant_id: str,
    actor: str,
    action: str,
    target: str,
    before: Any,
    after: Any,
    request_id: str | None,
    now: datetime,
) -> AuditRecorded:
    """An audit record of one write; `before`/`after` are JSON-able (None: the target did not exist)."""
    return AuditRecorded(
        audit_id="aud_" + uuid.uuid4().hex,
        tenant_id=tenant_id,
        actor=actor,
        action=action,
        target=target,
        before=None if before is None else _json(before),
        after=None if after is None else _json(after),
        request_id=request_id,
        occurred_at=now,
    )


def entry_hash(prev_hash: str, fields: Mapping[str, Any]) -> str:
    """The hash sealing one entry: over the previous hash and the entry's content, canonically encoded."""
    content = {
        "seq": fields["seq"],
        "audit_id": fields["audit_id"],
        "tenant_id": fields["tenant_id"],
        "actor": fields["actor"],
        "action": fields["action"],
        "target": fields["target"],
        "before": fields["before"],
        "after": fields["after"],
        "request_id": fields["request_id"],
        "occurred_at": fields["occurred_at"].isoformat(),
    }
    return hashlib.sha256((prev_hash + _json(content)).encode()).hexdigest()


def append(prev: Entry | None, r: AuditRecorded) -> Entry:
    """The next entry of `r`'s tenant chain after `prev` (None: the chain is empty)."""
    fields = {
        "seq": 1 if prev is None else prev.seq + 1,
        "audit_id": r.audit_id,
        "tenant_id": r.tenant_id,
        "actor": r.actor,
        "action": r.action,
        "target": r.target,
        "before": None if r.before is None else orjson.loads(r.before),
        "after": None if r.after is None else orjson.loads(r.after),
        "request_id": r.request_id,
        "occurred_at": r.occurred_at,
    }
    prev_hash = GENESIS if prev is None else prev.hash
    return Entry(prev_hash=prev_hash, hash=entry_hash(prev_hash, fields), **fields)


def first_broken(rows: Iterable[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The first row (in chain order) whose links or hash do not check out, or None if the chain holds."""
    expected_prev, expected_seq = GENESIS, 1
    for row in rows:
        if row["seq"] != expected_seq or row["prev_hash"] != expected_prev:
            return row
        if entry_hash(expected_prev, row) != row["hash"]:
            return row
        expected_prev, expected_seq = row["hash"], expected_seq + 1
    return None
