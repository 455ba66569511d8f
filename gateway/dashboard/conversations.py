"""The conversations pages: the list (filtered by agent and dates, newest first, a page at a time, with
export links for the same filter) and one conversation's transcript. Both read through the queries of
/v1/conversations; the exports are the API's own, which a signed-in browser may GET."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from gateway.dashboard import views
from gateway.http import paging
from gateway.http.errors import ApiError
from gateway.services import services
from projections.chat import assistants
from projections.chat import conversations as store
from projections.login_sessions import LoginSession

PAGE = 25
ROLES = {"user": "Visitor", "assistant": "Assistant", "tool": "Tool"}


@dataclass(frozen=True, slots=True)
class Filter:
    """What the list shows: one agent's conversations (or all), started from `first` to `last` (days,
    UTC, both included)."""

    agent_id: str = ""
    first: date | None = None
    last: date | None = None

    @property
    def since(self) -> datetime | None:
        return None if self.first is None else datetime.combine(self.first, time(), UTC)

    @property
    def until(self) -> datetime | None:
        return None if self.last is None else datetime.combine(self.last + timedelta(days=1), time(), UTC)

    @property
    def active(self) -> bool:
        return bool(self.agent_id or self.first or self.last)

    def page_query(self, **extra: str) -> str:
        """This filter as the list page's query string."""
        values = {"agent_id": self.agent_id, "from": _day(self.first), "to": _day(self.last), **extra}
        return urlencode({k: v for k, v in values.items() if v})

    def export_url(self, fmt: str) -> str:
        """The API's export of every message of this filter's range."""
        values = {
            "format": fmt,
            "agent_id": self.agent_id,
            "since": self.since.isoformat() if self.since else "",
            "until": self.until.isoformat() if self.until else "",
        }
        return "/v1/conversations/export?" + urlencode({k: v for k, v in values.items() if v})


def _day(value: date | None) -> str:
    return "" if value is None else value.isoformat()


def _filter(request: Request) -> tuple[Filter, dict[str, str]]:
    """The filter of the query, and a message for each field that could not be read."""
    q = request.query_params
    errors: dict[str, str] = {}
    days: dict[str, date | None] = {}
    for field in ("from", "to"):
        raw = q.get(field, "").strip()
        try:
            days[field] = date.fromisoformat(raw) if raw else None
        except ValueError:
            days[field], errors[field] = None, "Enter a date like 2026-01-31."
    first, last = days["from"], days["to"]
    if first and last and first > last:
        errors["to"] = "The last day comes before the first."
        last = None
    return Filter(q.get("agent_id", "").strip(), first, last), errors


@views.page
async def conversations_page(request: Request, session: LoginSession) -> Response:
    pool = services(request).pool
    chosen, errors = _filter(request)
    before: tuple[datetime, str] | None = None
    cursor = request.query_params.get("cursor")
    try:
        before = paging.time_and_text(cursor) if cursor else None
    except ApiError:
        errors["form"] = "That page link is out of date; here are the newest conversations."
    rows = await store.page(
        pool, session.tenant_id, agent_id=chosen.agent_id or None, since=chosen.since,
        until=chosen.until, before=before, limit=PAGE + 1,
    )  # fmt: skip
    shown, next_cursor = paging.page(
        rows, PAGE, lambda r: (r["started_at"].isoformat(), r["conversation_id"])
    )
    agents = {
        s.assistant.agent_id: s.assistant.name for s in await assistants.listing(pool, session.tenant_id)
    }
    context: dict[str, Any] = {
        "conversations": shown,
        "agents": agents,
        "filter": chosen,
        "errors": errors,
        "next": f"?{chosen.page_query(cursor=next_cursor)}" if next_cursor else None,
        "paged": before is not None,
    }
    return views.render(request, "conversations/list.html", context)


@views.page
async def conversation_page(request: Request, session: LoginSession) -> Response:
    pool = services(request).pool
    conversation_id = request.path_params["conversation_id"]
    found = await store.conversation(pool, session.tenant_id, conversation_id)
    if found is None:
        return views.not_found(request, "conversation")
    agent = await assistants.find(pool, session.tenant_id, found["agent_id"])
    messages = await store.messages(pool, session.tenant_id, conversation_id)
    context = {
        "conversation": found,
        "agent_name": agent.assistant.name if agent else None,
        "messages": messages,
        "roles": ROLES,
        "tokens": {
            "input": sum(m["input_tokens"] or 0 for m in messages),
            "output": sum(m["output_tokens"] or 0 for m in messages),
        },
    }
    return views.render(request, "conversations/conversation.html", context)


ROUTES: list[BaseRoute] = [
    Route("/dashboard/conversations", conversations_page, methods=["GET"]),
    Route("/dashboard/conversations/{conversation_id}", conversation_page, methods=["GET"]),
]
