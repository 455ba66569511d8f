"""AI assistants ("agents" in the API): their configuration and how API input changes it.

Pure: no I/O. The gateway turns requests into `AssistantChanged` records with `create`, `update` and
`delete`; the projection stores them. The rules for tools, branding, templates and allowed domains
live in `tools`, `branding`, `templates` and `allowlist` beside this module.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import orjson

from pipeline import validation
from pipeline.assistants import allowlist, fields, templates
from pipeline.assistants import branding as assistant_branding
from pipeline.assistants import tools as assistant_tools
from pipeline.assistants.templates import DEFAULT_MODEL, TEMPLATES
from pipeline.errors import ValidationError
from pipeline.records import AssistantBranding, AssistantChanged, AssistantTool, AssistantVoice
from pipeline.voice import config as voice_config

DEFAULT_PROMPT = "You are a helpful assistant. Answer briefly, politely and truthfully."
MAX_NAME = 200
MAX_PROMPT = 20_000
MAX_MODEL = 200
MAX_FALLBACKS = 5

FIELDS = frozenset(
    {
        "name",
        "customer",
        "system_prompt",
        "model",
        "fallback_models",
        "temperature",
        "tools",
        "allowed_domains",
        "branding",
        "template",
        "voice",
    }
)


@dataclass(frozen=True, slots=True)
class Assistant:
    """An assistant's current configuration, tool secrets included (never show it as is)."""

    tenant_id: str
    agent_id: str
    name: str
    system_prompt: str
    model: str
    fallback_models: tuple[str, ...]
    temperature: float | None
    tools: tuple[AssistantTool, ...]
    allowed_domains: tuple[str, ...]
    branding: AssistantBranding
    customer: str | None  # the billing customer; None: its replies are neither checked nor billed
    template: str | None
    deleted: bool = False
    voice: AssistantVoice | None = None  # its phone line (pipeline/voice/config.py)


def new_agent_id() -> str:
    """Agent ids are globally unique, so the widget can name an agent without naming its tenant."""
    return "agt_" + uuid.uuid4().hex


# --- validation ---------------------------------------------------------------------------------


def _temperature(raw: object) -> float | None:
    return None if raw is None else fields.number(raw, "temperature", 0.0, 2.0)


def _fallbacks(raw: object) -> tuple[str, ...]:
    items = fields.array(raw, "fallback_models", most=MAX_FALLBACKS)
    return tuple(
        fields.text(m, "fallback_models", most=MAX_MODEL, at=f"fallback_models[{i}]")
        for i, m in enumerate(items)
    )


def _body(raw: object) -> Mapping[str, Any]:
    if not isinstance(raw, dict):
        raise ValidationError("the body must be a JSON object", code="invalid_type", field="body")
    fields.no_unknown(raw, FIELDS, "agent")
    return raw


def _customer(raw: object) -> str | None:
    """null: no billing customer; anything else must be a customer id (never the empty string, which
    stands for "none" in the record)."""
    return None if raw is None else validation.identifier(raw, "customer")


def _required(body: Mapping[str, Any], field: str) -> Any:
    value = body.get(field)
    if value is None:
        raise fields.fail(field, f"{field} is required")
    return value


def _apply_template(a: Assistant, body: Mapping[str, Any], *, creating: bool) -> Assistant:
    """Fill from the request's template whatever the same request does not give.

    Switching template later adopts its texts but keeps the model: a model decides what a reply costs,
    so it only changes when asked for by name.
    """
    if a.template is None or "template" not in body:
        return a
    t = TEMPLATES[a.template]
    given_branding = body.get("branding") or {}
    branding = replace(
        a.branding,
        greeting=a.branding.greeting if "greeting" in given_branding else t.greeting,
        suggestions=a.branding.suggestions if "suggestions" in given_branding else list(t.suggestions),
    )
    return replace(
        a,
        system_prompt=a.system_prompt if "system_prompt" in body else t.system_prompt,
        model=t.model if creating and "model" not in body else a.model,
        branding=branding,
    )


def _merge(current: Assistant, body: Mapping[str, Any], *, creating: bool) -> Assistant:
    """`current` with every field the body gives replaced (validated); then template defaults."""
    a = current
    if "name" in body:
        a = replace(a, name=fields.text(body["name"], "name", most=MAX_NAME))
    if "customer" in body:
        a = replace(a, customer=_customer(body["customer"]))
    if "system_prompt" in body:
        a = replace(
            a, system_prompt=fields.text(body["system_prompt"], "system_prompt", most=MAX_PROMPT, empty=True)
        )
    if "model" in body:
        a = replace(a, model=fields.text(body["model"], "model", most=MAX_MODEL))
    if "fallback_models" in body:
        a = replace(a, fallback_models=_fallbacks(body["fallback_models"]))
    if "temperature" in body:
        a = replace(a, temperature=_temperature(body["temperature"]))
    if "tools" in body:
        a = replace(a, tools=assistant_tools.tools(body["tools"], current.tools))
    if "allowed_domains" in body:
        a = replace(a, allowed_domains=allowlist.domains(body["allowed_domains"]))
    if "branding" in body:
        a = replace(a, branding=assistant_branding.branding(body["branding"]))
    if "template" in body:
        a = replace(a, template=templates.template(body["template"]))
    if "voice" in body:
        a = replace(a, voice=voice_config.voice(body["voice"], current.voice))
    return _apply_template(a, body, creating=creating)


def _record(a: Assistant, action: str, *, actor: str, now: datetime, event_id: str) -> AssistantChanged:
    return AssistantChanged(
        event_id=event_id,
        tenant_id=a.tenant_id,
        agent_id=a.agent_id,
        action=action,
        name=a.name,
        system_prompt=a.system_prompt,
        model=a.model,
        fallback_models=list(a.fallback_models),
        temperature=a.temperature,
        tools=a.tools,
        allowed_domains=list(a.allowed_domains),
        branding=a.branding,
        customer=a.customer or "",  # the schema's customer is a string: "" is "none"
        template=a.template,
        actor=actor,
        occurred_at=now,
        voice=a.voice,
    )


def create(raw: object, *, tenant_id: str, agent_id: str, actor: str, now: datetime) -> AssistantChanged:
    """A new assistant from a POST body: `name` is required, the rest has defaults (no `customer`: no
    billing, its replies are neither checked nor charged)."""
    body = _body(raw)
    _required(body, "name")
    blank = Assistant(
        tenant_id=tenant_id,
        agent_id=agent_id,
        name="",
        system_prompt=DEFAULT_PROMPT,
        model=DEFAULT_MODEL,
        fallback_models=(),
        temperature=None,
        tools=(),
        allowed_domains=(),
        branding=AssistantBranding(),
        customer=None,
        template=None,
    )
    return _record(
        _merge(blank, body, creating=True),
        "created",
        actor=actor,
        now=now,
        event_id=validation.new_event_id(),
    )


def update(raw: object, *, current: Assistant, actor: str, now: datetime) -> AssistantChanged:
    """A PATCH: each field given replaces the current one (a tools list replaces the whole list)."""
    body = _body(raw)  # null clears customer, temperature and template; every other field refuses it
    merged = _merge(current, body, creating=False)
    return _record(merged, "updated", actor=actor, now=now, event_id=validation.new_event_id())


def delete(current: Assistant, *, actor: str, now: datetime) -> AssistantChanged:
    """The last configuration, marked deleted: the projection keeps the row but hides it."""
    return _record(current, "deleted", actor=actor, now=now, event_id=validation.new_event_id())


def from_record(r: AssistantChanged) -> Assistant:
    return Assistant(
        tenant_id=r.tenant_id,
        agent_id=r.agent_id,
        name=r.name,
        system_prompt=r.system_prompt,
        model=r.model,
        fallback_models=tuple(r.fallback_models),
        temperature=r.temperature,
        tools=tuple(r.tools),
        allowed_domains=tuple(r.allowed_domains),
        branding=r.branding,
        customer=r.customer or None,
        template=r.template,
        deleted=r.action == "deleted",
        voice=r.voice,
    )


def public(a: Assistant) -> dict[str, Any]:
    """The API's (and the audit log's) view: tool secrets replaced by `secret_set`."""
    b = a.branding
    return {
        "agent_id": a.agent_id,
        "name": a.name,
        "customer": a.customer,
        "template": a.template,
        "system_prompt": a.system_prompt,
        "model": a.model,
        "fallback_models": list(a.fallback_models),
        "temperature": a.temperature,
        "tools": [
            {
                "name": t.name,
                "description": t.description,
                "parameters": orjson.loads(t.parameters),
                "url": t.url,
                "timeout_seconds": t.timeout_seconds,
                "secret_set": bool(t.secret),
            }
            for t in a.tools
        ],
        "allowed_domains": list(a.allowed_domains),
        "branding": {
            "logo_url": b.logo_url,
            "primary_color": b.primary_color,
            "title": b.title,
            "greeting": b.greeting,
            "suggestions": list(b.suggestions),
        },
        "voice": voice_config.public(a.voice),
    }
