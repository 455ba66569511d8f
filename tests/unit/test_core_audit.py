"""The audit chain: each entry seals the previous one, so any change is found at its first entry."""

from __future__ import annotations

import itertools
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from pipeline import audit

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def chain(n: int, tenant: str = "ten_a") -> list[dict]:  # type: ignore[type-arg]
    entries: list[audit.Entry] = []
    for i in range(n):
        r = audit.record(
            tenant_id=tenant, actor="key:k1", action="grant.create", target=f"customer:c/grant:g{i}",
            before=None if i % 2 else {"amount": Decimal("1.5")}, after={"amount": Decimal(i), "at": NOW},
            request_id=f"req_{i}", now=NOW + timedelta(seconds=i),
        )  # fmt: skip
        entries.append(audit.append(entries[-1] if entries else None, r))
    return [asdict(e) for e in entries]


def test_an_untouched_chain_verifies() -> None:
    rows = chain(5)
    assert audit.first_broken(rows) is None
    assert [r["seq"] for r in rows] == [1, 2, 3, 4, 5]
    assert rows[0]["prev_hash"] == audit.GENESIS
    assert all(b["prev_hash"] == a["hash"] for a, b in itertools.pairwise(rows))


def test_changing_any_field_of_an_entry_is_found_at_that_entry() -> None:
    for field, value in [("actor", "key:evil"), ("after", {"amount": "999"}), ("before", None),
                         ("target", "customer:x"), ("occurred_at", NOW - timedelta(days=1))]:  # fmt: skip
        rows = chain(5)
        rows[2][field] = value
        broken = audit.first_broken(rows)
        assert broken is not None and broken["seq"] == 3, field


def test_removing_or_reordering_entries_is_found() -> None:
    rows = chain(5)
    assert audit.first_broken(rows[:2] + rows[3:])["seq"] == 4  # type: ignore[index]
    assert audit.first_broken([rows[1], rows[0], *rows[2:]])["seq"] == 2  # type: ignore[index]


def test_rehashing_a_changed_entry_still_breaks_the_next_link() -> None:
    rows = chain(4)
    rows[1]["actor"] = "key:evil"
    rows[1]["hash"] = audit.entry_hash(rows[1]["prev_hash"], rows[1])  # a forger seals their change
    broken = audit.first_broken(rows)
    assert broken is not None and broken["seq"] == 3


def test_chains_of_different_tenants_are_independent() -> None:
    assert chain(2, "ten_a")[0]["hash"] != chain(2, "ten_b")[0]["hash"]
