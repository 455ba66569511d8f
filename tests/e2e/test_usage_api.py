"""GET /v1/usage end to end: totals per hour, day and month equal an aggregation of the charges done here,
voided usage leaves them, properties only where a rule matches on them, and one tenant sees only its own."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import orjson
from e2e_stack import Stack
from usage_data import event, send_charged, void

RULES = [
    {"type": "t", "credits_per_unit": "2", "cost_per_unit": "0.5"},
    {"type": "m", "match": {"model": "big"}, "credits_per_unit": "7", "cost_per_unit": "1.25"},
    {"type": "m", "credits_per_unit": "3"},
]


def table() -> dict[str, Any]:
    """The burn table, in force since before the oldest event the tests send."""
    return {"rules": RULES, "effective_at": (datetime.now(UTC) - timedelta(days=20)).isoformat()}


Row = tuple[datetime, tuple[str | None, ...], int, Decimal, Decimal, Decimal]


def _start(at: datetime, window: str) -> datetime:
    at = at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    if window in ("day", "month"):
        at = at.replace(hour=0)
    return at.replace(day=1) if window == "month" else at


def expected(charges: list[dict[str, Any]], window: str, group_by: list[str], **filters: str) -> list[Row]:
    """The totals computed from the charges' rows, the way the API promises to."""
    sums: dict[tuple[datetime, tuple[str | None, ...]], list[Any]] = defaultdict(
        lambda: [0, Decimal(0), Decimal(0), Decimal(0)]
    )
    for c in charges:
        props = {
            k: str(v).lower() if isinstance(v, bool) else str(v)
            for k, v in orjson.loads(c["properties"]).items()
        }
        values = {
            "customer": c["customer"],
            "type": c["type"],
            **{f"property.{k}": v for k, v in props.items()},
        }
        if c["status"] == "voided" or any(values.get(k) != v for k, v in filters.items()):
            continue
        total = sums[(_start(c["event_time"], window), tuple(values.get(g) for g in group_by))]
        total[0] += 1
        total[1] += c["quantity"]
        total[2] += c["credits"]
        total[3] += c["cost"] or 0
    return sorted(
        ((at, group, *totals) for (at, group), totals in sums.items()), key=lambda r: (r[0], str(r[1]))
    )


async def answered(api: httpx.AsyncClient, params: list[tuple[str, str]]) -> tuple[dict[str, Any], list[Row]]:
    got = await api.get("/v1/usage", params=params)
    assert got.status_code == 200, got.text
    body = got.json()
    group_by = body["group_by"]
    rows = [
        (
            datetime.fromisoformat(r["start"]),
            tuple(r["group"][g] for g in group_by),
            r["events"],
            Decimal(r["quantity"]),
            Decimal(r["credits"]),
            Decimal(r["cost"]),
        )
        for r in body["data"]
    ]
    return body, sorted(rows, key=lambda r: (r[0], str(r[1])))


async def test_usage_totals_equal_the_charges_aggregated(stack: Stack) -> None:
    tenant = await stack.create_tenant()
    other = await stack.create_tenant("other")
    assert stack.pool is not None
    now = datetime.now(UTC)
    events = []
    for i in range(60):  # over the last ten days: several events share an hour, a day, a month
        at = now - timedelta(hours=i * 4 + 1, minutes=i * 7 % 60)
        customer = ("c1", "c2", "c3")[i % 3]
        if i % 2:
            events.append(
                event(f"m{i}", customer, "m", f"{i % 5 + 1}.5", at, model=("big", "small")[i % 4 // 2])
            )
        else:
            events.append(event(f"t{i}", customer, "t", str(i % 7 + 1), at, region="eu"))
    async with stack.client(tenant["api_key"]) as api:
        assert (await api.put("/v1/burn-tables/default", json=table())).status_code == 200
        await send_charged(api, stack.pool, tenant["tenant_id"], events)
        await void(api, "m1")
        await void(api, "t0")
        charges = [
            dict(r)
            for r in await stack.pool.fetch("SELECT * FROM charges WHERE tenant_id = $1", tenant["tenant_id"])
        ]
        assert {c["event_id"]: c["status"] for c in charges if c["status"] == "voided"} == {
            "m1": "voided", "t0": "voided"
        }  # fmt: skip

        for window in ("hour", "day", "month"):
            for group_by, filters, source in (
                ([], {}, "rollup"),
                (["customer"], {}, "rollup"),
                (["type", "customer"], {"customer": "c1"}, "rollup"),
                (["customer"], {"type": "m"}, "rollup"),
                (["property.model"], {"type": "m"}, "charges"),
                (["customer"], {"property.model": "big"}, "charges"),
            ):
                params = [("window", window), *filters.items()]
                if group_by:
                    params.append(("group_by", ",".join(group_by)))
                body, rows = await answered(api, params)
                assert (body["window"], body["source"], body["group_by"]) == (window, source, group_by)
                assert rows == expected(charges, window, group_by, **filters), (window, group_by, filters)
                assert all(r[2] > 0 for r in rows)

        # Several types at once, as repeats or a comma list.
        both = await answered(api, [("type", "m"), ("type", "t"), ("group_by", "type")])
        assert both == await answered(api, [("type", "m,t"), ("group_by", "type")])
        assert both[1] == expected(charges, "day", ["type"])

        # An unaligned range is widened to whole windows, and says so.
        since = now - timedelta(days=2, minutes=30)
        body, rows = await answered(
            api,
            [
                ("window", "hour"),
                ("from", since.isoformat()),
                ("to", now.isoformat()),
                ("group_by", "customer"),
            ],
        )
        start = since.replace(minute=0, second=0, microsecond=0)
        assert datetime.fromisoformat(body["from"]) == start
        assert datetime.fromisoformat(body["to"]) == now.replace(
            minute=0, second=0, microsecond=0
        ) + timedelta(hours=1)
        assert rows == [r for r in expected(charges, "hour", ["customer"]) if r[0] >= start]
        first = body["data"][0]
        assert datetime.fromisoformat(first["end"]) - datetime.fromisoformat(first["start"]) == timedelta(
            hours=1
        )

        nothing = await api.get("/v1/usage", params={"customer": "nobody"})
        assert nothing.status_code == 200 and nothing.json()["data"] == []

    async with stack.client(other["api_key"]) as api:  # tenant B sees none of A's usage
        for params in ({}, {"customer": "c1"}, {"group_by": "customer", "window": "month"}):
            hidden = await api.get("/v1/usage", params=params)
            assert hidden.status_code == 200 and hidden.json()["data"] == [], hidden.text
        # B has no burn table matching on model: the property is not B's to query.
        refused = await api.get("/v1/usage", params={"property.model": "big"})
        assert refused.status_code == 400 and refused.json()["error"]["code"] == "property_not_filterable"


async def test_bad_queries_are_refused_with_stable_codes(stack: Stack) -> None:
    tenant = await stack.create_tenant()
    async with stack.client(tenant["api_key"]) as api:
        assert (await api.put("/v1/burn-tables/default", json=table())).status_code == 200
        now = datetime.now(UTC)
        for params, code in (
            ({"window": "week"}, "invalid_window"),
            ({"from": "last tuesday"}, "invalid_time"),
            ({"from": now.isoformat(), "to": (now - timedelta(hours=1)).isoformat()}, "invalid_time"),
            ({"window": "hour", "from": (now - timedelta(days=40)).isoformat()}, "too_many_buckets"),
            ({"group_by": "customer,colour"}, "invalid_group_by"),
            ({"property.region": "eu"}, "property_not_filterable"),
            ({"group_by": "property.region"}, "property_not_filterable"),
        ):
            refused = await api.get("/v1/usage", params=params)
            assert refused.status_code == 400, (params, refused.text)
            assert refused.json()["error"]["code"] == code, (params, refused.text)
        named = (await api.get("/v1/usage", params={"property.region": "eu"})).json()["error"]["message"]
        assert "region" in named and "model" in named  # what was refused, and what may be used
        allowed = await api.get("/v1/usage", params={"property.model": "big", "group_by": "property.model"})
        assert allowed.status_code == 200 and allowed.json()["source"] == "charges"

        made = await api.post("/v1/keys", json={"scope": "ingest"})
        assert made.status_code == 201, made.text
    async with stack.client(made.json()["api_key"]) as ingest:
        refused = await ingest.get("/v1/usage")
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "insufficient_scope"
