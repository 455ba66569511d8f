"""The Burn tables pages: the tenant's tables, and one table's page — its newest version's rules next to
an older version's with the differences marked, a form to publish a version, and a form that prices an
event without sending it. Every write is a form sent to the API (PUT /v1/burn-tables/{name}, POST
/v1/burn-tables/{name}/preview), so the API's validation and its error messages are the only ones."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from gateway.dashboard import views
from gateway.services import services
from pipeline.billing.ledger import DEFAULT_TABLE
from projections.billing import reads
from projections.login_sessions import LoginSession

PAGE = 100  # tables per page of the list
MOST_VERSIONS = 200  # versions offered for comparison, newest first
# What a new tenant starts from: token prices by model and direction, and an outcome priced as a whole.
STARTER: list[dict[str, Any]] = [
    {"type": "llm.tokens", "match": {"model": "gpt-4o", "direction": "output"}, "credits_per_unit": "0.01"},
    {"type": "llm.tokens", "credits_per_unit": "0.001"},
    {"type": "research.completed", "credits_per_unit": "50"},
]


def rules_text(rules: Sequence[Mapping[str, Any]]) -> str:
    """Rules as a person edits them: one rule a line, without the empty `match` and `cost_per_unit`."""
    lines = []
    for r in rules:
        rule = {"type": r["type"], "match": r.get("match"), "credits_per_unit": r["credits_per_unit"],
                "cost_per_unit": r.get("cost_per_unit")}  # fmt: skip
        lines.append("  " + json.dumps({k: v for k, v in rule.items() if v}, ensure_ascii=False))
    return "[\n" + ",\n".join(lines) + "\n]"


def match_text(match: Mapping[str, Any]) -> str:
    """A rule's match as people read it: `model = gpt-4o, direction = output`, or any."""
    if not match:
        return "any properties"
    return ", ".join(
        f"{k} = {orjson.dumps(v).decode() if not isinstance(v, str) else v}" for k, v in match.items()
    )


@dataclass(frozen=True, slots=True)
class Line:
    """One rule in the comparison: its price in the older and the newer version (None: not there)."""

    type: str
    match: str
    older: Mapping[str, Any] | None
    newer: Mapping[str, Any] | None

    @property
    def change(self) -> str:
        if self.older is None:
            return "added"
        if self.newer is None:
            return "removed"
        same = all(self.older.get(k) == self.newer.get(k) for k in ("credits_per_unit", "cost_per_unit"))
        return "same" if same else "changed"


def _key(rule: Mapping[str, Any]) -> tuple[str, bytes]:
    return rule["type"], orjson.dumps(rule.get("match") or {}, option=orjson.OPT_SORT_KEYS)


def compare(older: Sequence[Mapping[str, Any]], newer: Sequence[Mapping[str, Any]]) -> list[Line]:
    """The newer version's rules in order, each beside the older version's rule for the same events,
    then the older version's rules the newer one dropped."""
    before = {_key(r): r for r in older}
    lines = [Line(r["type"], match_text(r.get("match") or {}), before.pop(_key(r), None), r) for r in newer]
    lines += [Line(r["type"], match_text(r.get("match") or {}), r, None) for r in before.values()]
    return lines


def api_path(name: str) -> str:
    return "/v1/burn-tables/" + quote(name, safe="")


@views.page
async def tables_page(request: Request, session: LoginSession) -> Response:
    after = request.query_params.get("after") or None
    rows = await reads.burn_tables(services(request).pool, session.tenant_id, after=after, limit=PAGE + 1)
    tables = [{**r, "href": "/dashboard/burn-tables/" + quote(r["name"], safe="")} for r in rows[:PAGE]]
    more = quote(rows[PAGE - 1]["name"], safe="") if len(rows) > PAGE else None
    names = {t["name"] for t in tables}
    context = {
        "tables": tables,
        "more": more,
        "paged": after is not None,
        "now": datetime.now(UTC),
        "starter": rules_text(STARTER),
        "suggested_name": "" if DEFAULT_TABLE in names or after else DEFAULT_TABLE,
    }
    return views.render(request, "burn_tables/list.html", context)


def _chosen(request: Request, versions: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The older version to compare with: `?compare=N`, or the one before the newest."""
    older = versions[1:]
    raw = request.query_params.get("compare", "")
    if raw.isascii() and raw.isdigit():
        for v in older:
            if v["version"] == int(raw):
                return v
    return older[0] if older else None


@views.page
async def table_page(request: Request, session: LoginSession) -> Response:
    name = request.path_params["name"]
    versions = await reads.versions_page(
        services(request).pool, session.tenant_id, name, below=None, limit=MOST_VERSIONS
    )
    if not versions:
        return views.not_found(request, "burn table")
    latest = versions[0]
    older = _chosen(request, versions)
    first = latest["rules"][0] if latest["rules"] else {"type": "", "match": {}}
    context = {
        "name": name,
        "api": api_path(name),
        "latest": latest,
        "now": datetime.now(UTC),
        "older": older,
        "versions": versions,
        "lines": compare(older["rules"] if older else [], latest["rules"]),
        "rules_json": rules_text(latest["rules"]),
        "example_type": first["type"],
        "example_properties": json.dumps(first["match"], ensure_ascii=False) if first.get("match") else "",
    }
    return views.render(request, "burn_tables/table.html", context)


ROUTES: list[BaseRoute] = [
    Route("/dashboard/burn-tables", tables_page, methods=["GET"]),
    Route("/dashboard/burn-tables/{name}", table_page, methods=["GET"]),
]
