"""The audit log page: the tenant's entries newest first, filtered by target, action and day, a page at a
time; each with who did it (a user's email, a key's prefix) and what changed, field by field."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any
from urllib.parse import urlencode

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from gateway.dashboard import views
from gateway.http import paging
from gateway.http.errors import ApiError
from gateway.services import services
from projections import audit, users
from projections.login_sessions import LoginSession

PAGE = 50
MAX_SHOWN = 300  # characters of one value in the changes table (the whole JSON is a click away)
ABSENT = "—"


@dataclass(frozen=True, slots=True)
class Change:
    field: str
    before: str
    after: str


def _shown(value: Any) -> str:
    text = value if isinstance(value, str) else orjson.dumps(value).decode()
    return text if len(text) <= MAX_SHOWN else text[: MAX_SHOWN - 1] + "…"


def changes(before: Any, after: Any) -> list[Change]:
    """What an entry changed, field by field: every field of a thing created or deleted, and the fields
    whose value differs for a thing changed."""
    if not isinstance(before, dict) and not isinstance(after, dict):
        if before is None and after is None:
            return []
        return [
            Change(
                "value",
                ABSENT if before is None else _shown(before),
                ABSENT if after is None else _shown(after),
            )
        ]
    old = before if isinstance(before, dict) else {}
    new = after if isinstance(after, dict) else {}
    fields = list(new) + [k for k in old if k not in new]
    return [
        Change(k, _shown(old[k]) if k in old else ABSENT, _shown(new[k]) if k in new else ABSENT)
        for k in fields
        if (k in old) != (k in new) or old.get(k) != new.get(k)
    ]


def actor(raw: str, key_prefix: str | None, emails: dict[str, str]) -> str:
    """Who did it, as a person reads it."""
    kind, _, ident = raw.partition(":")
    if kind == "user" and ident in emails:
        return emails[ident]
    if kind == "key" and key_prefix:
        return f"API key {key_prefix}…"
    if raw == "cli":
        return "An operator (command line)"
    return raw


def pretty(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_INDENT_2).decode()


@views.page
async def audit_page(request: Request, session: LoginSession) -> Response:
    pool = services(request).pool
    q = request.query_params
    errors: dict[str, str] = {}
    target, action = q.get("target", "").strip(), q.get("action", "").strip()
    day: date | None = None
    if q.get("since", "").strip():
        try:
            day = date.fromisoformat(q["since"].strip())
        except ValueError:
            errors["since"] = "Enter a date like 2026-01-31."
    before = paging.MAX_BIGINT
    if q.get("before"):
        try:
            before = paging.number_cursor(q["before"])
        except ApiError:
            errors["form"] = "That page link is out of date; here are the newest entries."
    rows = await audit.newest_page(
        pool, session.tenant_id, target=target or None, action=action or None,
        since=datetime.combine(day, time(), UTC) if day else None, before_seq=before, limit=PAGE + 1,
    )  # fmt: skip
    emails = await users.emails(pool, session.tenant_id)
    entries = [
        {
            **e,
            "who": actor(e["actor"], e["actor_key_prefix"], emails),
            "changes": changes(e["before"], e["after"]),
            "shape": "created" if e["before"] is None else "deleted" if e["after"] is None else "changed",
            "before_json": pretty(e["before"]),
            "after_json": pretty(e["after"]),
        }
        for e in rows[:PAGE]
    ]
    query = {"target": target, "action": action, "since": day.isoformat() if day else ""}
    kept = {k: v for k, v in query.items() if v}
    context = {
        "entries": entries,
        "actions": await audit.actions(pool, session.tenant_id),
        "values": query,
        "errors": errors,
        "filtered": bool(kept),
        "paged": before != paging.MAX_BIGINT and "form" not in errors,
        "newest": "?" + urlencode(kept),
        "next": "?" + urlencode({**kept, "before": entries[-1]["seq"]}) if len(rows) > PAGE else None,
    }
    return views.render(request, "audit/list.html", context)


ROUTES: list[BaseRoute] = [Route("/dashboard/audit", audit_page, methods=["GET"])]
