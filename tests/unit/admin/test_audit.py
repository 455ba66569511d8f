"""The audit chain: each entry is sealed with the key over the one before, so any change is found at
that entry, a forger without the key cannot seal one, and every break is listed."""

from __future__ import annotations

import itertools
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from pipeline.admin import audit

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
SEAL = audit.Seal(b"k" * 32)


def chain(n: int, tenant: str = "ten_a") -> list[dict]:  # type: ignore[type-arg]
    entries: list[audit.Entry] = []
    for i in range(n):
        r = audit.record(
            tenant_id=tenant, actor="key:k1", action="grant.create", target=f"customer:c/grant:g{i}",
            before=None if i % 2 else {"amount": Decimal("1.5")}, after={"amount": Decimal(i), "at": NOW},
            request_id=f"req_{i}", now=NOW + timedelta(seconds=i),
        )  # fmt: skip
        head = audit.Head(entries[-1].seq, entries[-1].hash) if entries else None
        entries.append(audit.append(head, r, SEAL))
    return [{**asdict(e), "chain_version": audit.KEYED} for e in entries]


def breaks(rows: list[dict], published: audit.Head | None = None) -> list[int]:  # type: ignore[type-arg]
    return [b.seq for b in audit.check("ten_a", rows, SEAL, published).breaks]


def test_an_untouched_chain_verifies() -> None:
    rows = chain(5)
    assert breaks(rows, audit.Head(5, rows[-1]["hash"])) == []
    assert [r["seq"] for r in rows] == [1, 2, 3, 4, 5]
    assert rows[0]["prev_hash"] == audit.GENESIS
    assert all(b["prev_hash"] == a["hash"] for a, b in itertools.pairwise(rows))


def test_changing_any_field_of_an_entry_is_found_at_that_entry() -> None:
    for field, value in [("actor", "key:evil"), ("after_text", '{"amount":"999"}'), ("before_text", None),
                         ("target", "customer:x"), ("occurred_at", NOW - timedelta(days=1))]:  # fmt: skip
        rows = chain(5)
        rows[2][field] = value
        assert breaks(rows) == [3], field


def test_removing_or_reordering_entries_is_found() -> None:
    rows = chain(5)
    assert breaks(rows[:2] + rows[3:]) == [4]
    assert breaks([rows[1], rows[0], *rows[2:]]) == [2, 1, 3]


def test_a_seal_needs_the_key() -> None:
    rows = chain(4)
    rows[1]["actor"] = "key:evil"
    rows[1]["hash"] = audit.seal_of(b"guessed" * 5, rows[1]["prev_hash"], rows[1])
    assert breaks(rows) == [2, 3]


def test_a_cut_tail_is_found_by_the_published_head() -> None:
    rows = chain(5)
    assert breaks(rows[:3]) == []  # nothing inside the database tells...
    assert breaks(rows[:3], audit.Head(5, rows[4]["hash"])) == [5]  # ...the head published outside does


def test_chains_of_different_tenants_are_independent() -> None:
    assert chain(2, "ten_a")[0]["hash"] != chain(2, "ten_b")[0]["hash"]
