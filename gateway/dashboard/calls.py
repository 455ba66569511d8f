"""The calls pages: the list (newest first, by agent and state, or only the failed calls, a page at a
time) and one call: who called whom, its state history, why it ended in words, and its transcript with
the replies the caller spoke over. Both read through the queries of /v1/calls."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from gateway.dashboard import views
from gateway.http import paging
from gateway.http.errors import ApiError
from gateway.services import services
from gateway.voice.calls import FAILED
from pipeline.voice import calls
from projections.chat import assistants
from projections.login_sessions import LoginSession
from projections.voice import reads

PAGE = 25
ROLES = {"user": "Caller", "assistant": "Agent", "tool": "Tool"}
STATE_NAMES = {
    calls.QUEUED: "Queued",
    calls.RINGING: "Ringing",
    calls.IN_PROGRESS: "In progress",
    calls.COMPLETED: "Completed",
    calls.BUSY: "Busy",
    calls.NO_ANSWER: "No answer",
    calls.FAILED: "Failed",
    calls.CANCELED: "Canceled",
}
# Why a call ended, as a person reads it (docs/voice.md has the same table).
END_REASONS = {
    calls.AGENT_ENDED: "agent ended: the agent finished the call (it said goodbye and hung up)",
    calls.MAX_DURATION: "max duration: the call reached the phone line's longest call and the agent ended it",
    calls.SILENCE: "silence: the caller said nothing, even after one reminder, so the agent said goodbye",
    calls.PROVIDER_DOWN: "provider down: the AI model did not answer; the caller heard an apology and the call ended",
    calls.OUT_OF_CREDITS: "out of credits: the agent's billing customer may not spend, so the call was "
    "refused before it connected (or ended at the next reply)",
    calls.AGENT_UNAVAILABLE: "agent unavailable: the agent was deleted during the call, so it said sorry and "
    "ended it",
    calls.BUSY: "busy: Twilio reported the line busy",
    "no_answer": "no answer: Twilio reported that the call was not answered",
    calls.FAILED: "failed: Twilio could not connect the call",
    calls.CANCELED: "canceled: the call was canceled before it was answered",
    calls.CALLER_HANGUP: "caller hung up: the caller ended the call",
    calls.DROPPED: "dropped: the connection to the call was lost before anyone ended it",
    calls.COMPLETED: "completed: Twilio reported the call complete, with nothing more said about why",
}
FAILED_REASONS = frozenset(FAILED)


def duration(seconds: int | None) -> str:
    """A call's length as people say it: "42 s", "3 min 05 s"."""
    if seconds is None:
        return ""
    minutes, rest = divmod(max(0, seconds), 60)
    return f"{minutes} min {rest:02d} s" if minutes else f"{rest} s"


def reason_name(reason: str | None) -> str:
    return "" if reason is None else reason.replace("_", " ")


def reason_sentence(reason: str | None) -> str:
    if reason is None:
        return "The call has not ended."
    known = END_REASONS.get(reason)
    return f"{known[0].upper()}{known[1:]}." if known else f"{reason_name(reason).capitalize()}."


def happening(event: dict[str, Any]) -> str:
    """One recorded fact about a call, in words."""
    kind, detail = event["kind"], event["detail"]
    if kind == calls.STATE:
        return f"Twilio: {STATE_NAMES.get(event['state'], event['state'])}"
    if kind == calls.CONNECTED:
        return "The agent took the call"
    if kind == calls.INTERRUPTED:
        heard = event["heard"]
        return "The caller spoke over the agent's reply " + (
            f"after hearing “{heard}”" if heard else "before hearing any of it"
        )
    if kind == calls.DTMF:
        return f"The caller pressed {detail}"
    if kind == calls.ENDED:
        return f"The agent ended the call: {reason_name(event['end_reason'])}"
    if kind == calls.SESSION_ENDED:
        return f"Twilio ended the agent's session ({detail or 'no status'})"
    if kind == calls.RELAY_CLOSED:
        return "The connection to the agent closed without an end"
    if kind == calls.ERROR:
        return f"Twilio reported an error: {detail or 'no description'}"
    return kind


@dataclass(frozen=True, slots=True)
class Filter:
    """What the list shows: one agent's calls (or all), in one state (or any), or only the failed ones."""

    agent_id: str = ""
    state: str = ""
    failed: bool = False

    @property
    def active(self) -> bool:
        return bool(self.agent_id or self.state or self.failed)

    def page_query(self, **extra: str) -> str:
        values = {
            "agent_id": self.agent_id,
            "state": self.state,
            "failed": "true" if self.failed else "",
            **extra,
        }
        return urlencode({k: v for k, v in values.items() if v})


def _filter(request: Request) -> tuple[Filter, dict[str, str]]:
    q = request.query_params
    errors: dict[str, str] = {}
    state = q.get("state", "").strip()
    if state and state not in calls.RANK:
        errors["state"] = "Choose one of the states in the list."
        state = ""
    return Filter(q.get("agent_id", "").strip(), state, q.get("failed") == "true"), errors


@views.page
async def calls_page(request: Request, session: LoginSession) -> Response:
    pool = services(request).pool
    chosen, errors = _filter(request)
    before: tuple[datetime, str] | None = None
    cursor = request.query_params.get("cursor")
    try:
        before = paging.time_and_text(cursor) if cursor else None
    except ApiError:
        errors["form"] = "That page link is out of date; here are the newest calls."
    rows = await reads.page(
        pool, session.tenant_id, agent_id=chosen.agent_id or None, state=chosen.state or None,
        end_reasons=sorted(FAILED_REASONS) if chosen.failed else None, before=before, limit=PAGE + 1,
    )  # fmt: skip
    shown, next_cursor = paging.page(rows, PAGE, lambda r: (r["started_at"].isoformat(), r["call_sid"]))
    agents = {
        s.assistant.agent_id: s.assistant.name for s in await assistants.listing(pool, session.tenant_id)
    }
    context: dict[str, Any] = {
        "calls": shown,
        "agents": agents,
        "filter": chosen,
        "errors": errors,
        "states": STATE_NAMES,
        "failed_reasons": FAILED_REASONS,
        "next": f"?{chosen.page_query(cursor=next_cursor)}" if next_cursor else None,
        "paged": before is not None,
        "duration": duration,
        "reason_name": reason_name,
    }
    return views.render(request, "calls/list.html", context)


@views.page
async def call_page(request: Request, session: LoginSession) -> Response:
    pool = services(request).pool
    call_sid = request.path_params["call_sid"]
    found = await reads.call(pool, session.tenant_id, call_sid)
    if found is None:
        return views.not_found(request, "call")
    agent = await assistants.find(pool, session.tenant_id, found["agent_id"])
    events = await reads.events(pool, session.tenant_id, call_sid)
    turns = await reads.transcript(pool, session.tenant_id, found["conversation_id"], events)
    context = {
        "call": found,
        "agent_name": agent.assistant.name if agent else None,
        "events": [{**e, "what": happening(e)} for e in events],
        "turns": turns,
        "roles": ROLES,
        "states": STATE_NAMES,
        "failed": found["end_reason"] in FAILED_REASONS,
        "reason": reason_name(found["end_reason"]),
        "explained": reason_sentence(found["end_reason"]),
        "duration": duration(found["duration_seconds"]),
    }
    return views.render(request, "calls/call.html", context)


ROUTES: list[BaseRoute] = [
    Route("/dashboard/calls", calls_page, methods=["GET"]),
    Route("/dashboard/calls/{call_sid}", call_page, methods=["GET"]),
]
