"""The audit log's pure core: building audit records and the per-tenant hash chain that makes it tamper-evident.

Each entry is sealed with an HMAC-SHA256, under a key kept outside the database, over the previous
entry's seal and the entry's content exactly as stored (the before/after JSON text as recorded), so
changing, removing or reordering any entry breaks the chain, and nobody without the key can seal a
forgery. Entries written by earlier versions (chain version 1) were hashed with plain SHA-256 over
re-encoded JSON; they are checked as they were written and reported as legacy.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import orjson

from pipeline.money import format_decimal
from pipeline.records import AuditRecorded

GENESIS = "0" * 64
LEGACY, KEYED = 1, 2  # chain versions


@dataclass(frozen=True, slots=True)
class Seal:
    """The audit key; `key_id` names it in each entry without revealing it."""

    key: bytes

    @property
    def key_id(self) -> str:
        return hmac.new(self.key, b"revos audit key id", hashlib.sha256).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class Head:
    """The last entry of a tenant's chain: its position and seal."""

    seq: int
    hash: str


@dataclass(frozen=True, slots=True)
class Entry:
    """An audit entry as stored: its position in the tenant's chain and the seal that closes it."""

    tenant_id: str
    seq: int
    audit_id: str
    actor: str
    action: str
    target: str
    before_text: str | None
    after_text: str | None
    request_id: str | None
    occurred_at: datetime
    prev_hash: str
    hash: str
    key_id: str


@dataclass(frozen=True, slots=True)
class Break:
    """One place where a chain does not check out."""

    seq: int
    audit_id: str | None
    what: str  # the entry's action and target, when there is an entry
    reason: str


@dataclass(frozen=True, slots=True)
class Verdict:
    """A tenant's chain checked: how many entries, how many of them legacy, and every break."""

    tenant_id: str
    entries: int
    legacy: int
    breaks: tuple[Break, ...]


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


def seal_of(key: bytes, prev_hash: str, fields: Mapping[str, Any]) -> str:
    """The HMAC sealing one entry: over the previous seal and the entry's stored content."""
    at = fields["occurred_at"].astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    content = orjson.dumps(
        [
            KEYED, fields["seq"], fields["audit_id"], fields["tenant_id"], fields["actor"],
            fields["action"], fields["target"], fields["before_text"], fields["after_text"],
            fields["request_id"], at, fields["key_id"],
        ]
    )  # fmt: skip
    return hmac.new(key, prev_hash.encode() + b"\n" + content, hashlib.sha256).hexdigest()


def legacy_hash(prev_hash: str, fields: Mapping[str, Any]) -> str:
    """The unkeyed hash of a chain-version-1 entry, over its re-encoded JSON (as earlier versions did)."""
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


def append(prev: Head | None, r: AuditRecorded, seal: Seal) -> Entry:
    """The next entry of `r`'s tenant chain after `prev` (None: the chain is empty)."""
    fields: dict[str, Any] = {
        "seq": 1 if prev is None else prev.seq + 1,
        "audit_id": r.audit_id,
        "tenant_id": r.tenant_id,
        "actor": r.actor,
        "action": r.action,
        "target": r.target,
        "before_text": r.before,
        "after_text": r.after,
        "request_id": r.request_id,
        "occurred_at": r.occurred_at,
        "key_id": seal.key_id,
    }
    prev_hash = GENESIS if prev is None else prev.hash
    return Entry(prev_hash=prev_hash, hash=seal_of(seal.key, prev_hash, fields), **fields)


def _problems(row: Mapping[str, Any], seal: Seal, keyed_before: bool) -> list[str]:
    """What is wrong with one entry's own seal (its links are checked by the caller)."""
    if row["chain_version"] == LEGACY:
        if keyed_before:
            return ["an unkeyed entry after keyed ones (no version of Revos writes that): forged"]
        if legacy_hash(row["prev_hash"], row) != row["hash"]:
            return [
                "legacy (unkeyed) entry whose hash does not check out: changed, or written before keyed "
                "chains with numbers PostgreSQL rewrote (such as 1e16); it cannot be told apart"
            ]
        return []
    if row["key_id"] != seal.key_id:
        return [f"sealed with another key (key id {row['key_id']}; this key's id is {seal.key_id})"]
    if not hmac.compare_digest(seal_of(seal.key, row["prev_hash"], row), row["hash"]):
        return ["its content does not match its seal: changed after it was written"]
    return []


def check(
    tenant_id: str, rows: Iterable[Mapping[str, Any]], seal: Seal, published: Head | None = None
) -> Verdict:
    """Every break of a tenant's chain (rows in seq order), and whether it still holds its published
    head: a chain cut short, or rewritten from some entry on, no longer does."""
    breaks: list[Break] = []
    expected_prev, expected_seq = GENESIS, 1
    entries = legacy = 0
    keyed = False
    seen: dict[int, str] = {}
    for row in rows:
        entries += 1
        legacy += row["chain_version"] == LEGACY
        reasons = []
        if row["seq"] != expected_seq:
            reasons.append(f"seq {row['seq']} where {expected_seq} was due: entries removed or reordered")
        elif row["prev_hash"] != expected_prev:
            reasons.append("does not link to the entry before it: that entry was replaced")
        reasons += _problems(row, seal, keyed)
        keyed = keyed or row["chain_version"] != LEGACY
        what = f"{row['action']} on {row['target']}"
        breaks += [Break(row["seq"], row["audit_id"], what, reason) for reason in reasons]
        expected_prev, expected_seq = row["hash"], row["seq"] + 1
        seen[row["seq"]] = row["hash"]
    if published is not None:
        if published.seq not in seen:
            breaks.append(
                Break(published.seq, None, "", f"entry {published.seq} was published as the chain's head, "
                      f"but the chain ends at seq {expected_seq - 1}: its tail was cut")
            )  # fmt: skip
        elif seen[published.seq] != published.hash:
            breaks.append(
                Break(published.seq, None, "", "is not the entry published as the chain's head: rewritten")
            )
    return Verdict(tenant_id, entries, legacy, tuple(breaks))
