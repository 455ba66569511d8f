"""The Agents pages: the tenant's agents, a new one from a template, and one agent's page (test chat,
prompt and model, branding with a live preview, allowlist and embed snippet, phone line, delete). Every
change is a form sent to /v1/agents (the tenant's Twilio account: PUT /v1/voice/twilio); the test chat is
the widget itself, with a token from POST /v1/agents/{agent_id}/test-sessions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from gateway.dashboard import views
from gateway.dashboard.home import own_origin
from gateway.services import services
from gateway.voice.twilio import public_base
from pipeline.assistants.templates import TEMPLATES
from pipeline.records import AssistantVoice
from pipeline.voice import config
from projections.chat import assistants
from projections.login_sessions import LoginSession
from projections.voice import providers

WIDGET_COLOR = "#2563eb"  # the widget's own primary colour (gateway/static/widget.js) when none is set


@dataclass(frozen=True, slots=True)
class TemplateCard:
    key: str
    title: str
    about: str  # the first sentence of its prompt
    greeting: str


def when(moment: datetime) -> str:
    """A time as the tables show it: minutes, in UTC."""
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def template_cards() -> list[TemplateCard]:
    return [
        TemplateCard(key, key.capitalize(), t.system_prompt.split(". ")[0].rstrip(".") + ".", t.greeting)
        for key, t in TEMPLATES.items()
    ]


def snippet(gateway: str, agent_id: str) -> str:
    """The tag a site pastes (docs/chat.md)."""
    return f'<script src="{gateway}/widget.js" data-agent="{agent_id}" async></script>'


def phone_line(request: Request, line: AssistantVoice | None) -> dict[str, object]:
    """What the "Phone line" card shows and its form starts from (a new line: the API's defaults)."""
    base = public_base(services(request), request)
    return {
        "line": line,
        "form": line or AssistantVoice(phone_number=""),
        "incoming_url": f"{base}/v1/voice/twilio/incoming",
        "status_url": f"{base}/v1/voice/twilio/status",
        "tts_providers": config.TTS_PROVIDERS,
        "transcription_providers": config.TRANSCRIPTION_PROVIDERS,
        "min_seconds": config.MIN_CALL_SECONDS,
        "max_seconds": config.MAX_CALL_SECONDS,
    }


@views.page
async def agents_page(request: Request, session: LoginSession) -> Response:
    listed = await assistants.listing(services(request).pool, session.tenant_id)
    rows = [
        {
            "agent_id": s.assistant.agent_id,
            "name": s.assistant.name,
            "model": s.assistant.model,
            "domains": s.assistant.allowed_domains,
            "updated": when(s.updated_at),
            "updated_iso": s.updated_at.isoformat(),
        }
        for s in listed
    ]
    return views.render(request, "agents/list.html", {"agents": rows})


@views.page
async def new_agent_page(request: Request, session: LoginSession) -> Response:
    return views.render(request, "agents/new.html", {"templates": template_cards()})


@views.page
async def agent_page(request: Request, session: LoginSession) -> Response:
    pool = services(request).pool
    stored = await assistants.find(pool, session.tenant_id, request.path_params["agent_id"])
    if stored is None:
        return views.not_found(request, "agent")
    agent = stored.assistant
    gateway = own_origin(request)
    context = {
        "agent": agent,
        "created": when(stored.created_at),
        "updated": when(stored.updated_at),
        "color": agent.branding.primary_color or WIDGET_COLOR,
        "snippet": snippet(gateway, agent.agent_id),
        "hosted": f"{gateway}/chat/{agent.agent_id}",
        "phone": phone_line(request, agent.voice),
        "twilio": await providers.find(pool, session.tenant_id),
    }
    return views.render(request, "agents/agent.html", context)


ROUTES: list[BaseRoute] = [
    Route("/dashboard/agents", agents_page, methods=["GET"]),
    Route("/dashboard/agents/new", new_agent_page, methods=["GET"]),  # before /{agent_id}
    Route("/dashboard/agents/{agent_id}", agent_page, methods=["GET"]),
]
