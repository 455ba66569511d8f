"""AI assistants ("agents" in the API): their configuration, the rules API input must meet, the shipped
templates, and the domain allowlist that decides which sites may embed one.

Pure: no I/O. The gateway turns requests into `AssistantChanged` records with `create`, `update` and
`delete`; the projection stores them; `origin_allowed` and `frame_ancestors` enforce the allowlist.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import orjson

from pipeline import validation
from pipeline.errors import ValidationError
from pipeline.records import AssistantBranding, AssistantChanged, AssistantTool

DEFAULT_MODEL = "openrouter/auto"
DEFAULT_PROMPT = "You are a helpful assistant. Answer briefly, politely and truthfully."
MAX_NAME = 200
MAX_PROMPT = 20_000
MAX_MODEL = 200
MAX_FALLBACKS = 5
MAX_TOOLS = 20
MAX_TOOL_DESCRIPTION = 1_000
MAX_PARAMETERS = 20_000  # bytes of a tool's JSON Schema
MAX_URL = 2_000
MIN_SECRET = 16
MAX_SECRET = 256
MAX_TIMEOUT = 30.0
DEFAULT_TIMEOUT = 10.0
MAX_DOMAINS = 50
MAX_TITLE = 100
MAX_GREETING = 1_000
MAX_SUGGESTIONS = 6
MAX_SUGGESTION = 200

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
    }
)
TOOL_FIELDS = frozenset({"name", "description", "parameters", "url", "secret", "timeout_seconds"})
BRANDING_FIELDS = frozenset({"logo_url", "primary_color", "title", "greeting", "suggestions"})

_TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")
_LABEL = r"(?!-)[a-z0-9-]{1,63}(?<!-)"
_HOST = re.compile(rf"^{_LABEL}(\.{_LABEL})*$")
_WILDCARD = re.compile(rf"^\*\.{_LABEL}(\.{_LABEL})+$")  # `*.com` would hand a whole TLD to anyone
_MAX_HOST = 253


@dataclass(frozen=True, slots=True)
class Template:
    """A starting point: fills the prompt, greeting and suggestions a request does not give (and the
    model, when an assistant is created without one)."""

    system_prompt: str
    greeting: str
    suggestions: tuple[str, ...]
    model: str = DEFAULT_MODEL


TEMPLATES: Mapping[str, Template] = {
    "support": Template(
        system_prompt=(
            "You are a customer support assistant. Answer questions about the product clearly and "
            "briefly, using the tools you have to look things up. If you do not know the answer or "
            "the visitor needs a person, say so and suggest contacting the support team."
        ),
        greeting="Hi! How can I help you today?",
        suggestions=("I have a problem with my order", "How do I reset my password?", "Talk to a person"),
    ),
    "sales": Template(
        system_prompt=(
            "You are a friendly sales assistant. Help visitors understand the product, its plans and "
            "prices, and whether it fits their needs. Be honest about what it does not do, never "
            "invent prices or features, and offer to arrange a call with the sales team."
        ),
        greeting="Hi! Looking for the right plan? Ask me anything.",
        suggestions=("Which plan is right for me?", "How much does it cost?", "Book a demo"),
    ),
    "onboarding": Template(
        system_prompt=(
            "You are an onboarding guide. Help new users get started step by step: ask what they want "
            "to achieve, explain one step at a time, and check that each step worked before moving on."
        ),
        greeting="Welcome! Let's get you set up. What would you like to do first?",
        suggestions=("Where do I start?", "Connect my account", "Invite my team"),
    ),
}


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
    customer: str
    template: str | None
    deleted: bool = False


def new_agent_id() -> str:
    """Agent ids are globally unique, so the widget can name an agent without naming its tenant."""
    return "agt_" + uuid.uuid4().hex


# --- validation ---------------------------------------------------------------------------------


def _fail(field: str, message: str, *, at: str | None = None) -> ValidationError:
    return ValidationError(message, code="invalid_" + field, field=at or field)


def _no_unknown(raw: Mapping[str, Any], allowed: frozenset[str], where: str) -> None:
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise ValidationError(
            f"{where} has unknown field(s): {', '.join(unknown)}",
            code="unknown_field",
            field=unknown[0] if where == "agent" else f"{where}.{unknown[0]}",
        )


def _text(raw: object, field: str, *, most: int, empty: bool = False, at: str | None = None) -> str:
    """A string without NUL (PostgreSQL text cannot hold it) of at most `most` characters."""
    if not isinstance(raw, str) or (not empty and not raw.strip()):
        kind = "a string" if empty else "a non-empty string"
        raise _fail(field, f"{at or field} must be {kind}", at=at)
    if len(raw) > most:
        raise _fail(field, f"{at or field} is longer than {most} characters", at=at)
    if "\x00" in raw:
        raise _fail(field, f"{at or field} must not contain NUL characters", at=at)
    return raw


def _list(raw: object, field: str, *, most: int) -> list[Any]:
    if not isinstance(raw, list):
        raise _fail(field, f"{field} must be an array")
    if len(raw) > most:
        raise _fail(field, f"{field} has more than {most} entries")
    return raw


def _number(raw: object, field: str, low: float, high: float, *, at: str | None = None) -> float:
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not low <= raw <= high:
        raise _fail(field, f"{at or field} must be a number from {low:g} to {high:g}", at=at)
    return float(raw)


def _http_url(raw: object, field: str, *, at: str) -> str:
    url = _text(raw, field, most=MAX_URL, at=at)
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError as exc:
        raise _fail(field, f"{at} is not a valid URL", at=at) from exc
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _fail(field, f"{at} must be an http or https URL", at=at)
    return url


def _temperature(raw: object) -> float | None:
    return None if raw is None else _number(raw, "temperature", 0.0, 2.0)


def _fallbacks(raw: object) -> tuple[str, ...]:
    items = _list(raw, "fallback_models", most=MAX_FALLBACKS)
    return tuple(
        _text(m, "fallback_models", most=MAX_MODEL, at=f"fallback_models[{i}]") for i, m in enumerate(items)
    )


def _template(raw: object) -> str | None:
    if raw is None:
        return None
    if not isinstance(raw, str) or raw not in TEMPLATES:
        raise _fail("template", f"template must be one of: {', '.join(sorted(TEMPLATES))}")
    return raw


def domain(raw: object, at: str = "allowed_domains") -> str:
    """One allowlist entry: a host name or `*.` + a host name, lowercased; no scheme, port or path."""
    if not isinstance(raw, str) or not raw:
        raise _fail("allowed_domains", f"{at} must be a non-empty string", at=at)
    entry = raw.strip().lower()
    if len(entry) > _MAX_HOST or not (_HOST.match(entry) or _WILDCARD.match(entry)):
        raise _fail(
            "allowed_domains",
            f"{at} must be a host name such as shop.example.com or a wildcard such as *.example.com "
            f"(no scheme, port or path): {raw!r}",
            at=at,
        )
    return entry


def _domains(raw: object) -> tuple[str, ...]:
    items = _list(raw, "allowed_domains", most=MAX_DOMAINS)
    entries = (domain(d, f"allowed_domains[{i}]") for i, d in enumerate(items))
    return tuple(dict.fromkeys(entries))  # deduplicated, first mention kept


def _parameters(raw: object, at: str) -> str:
    if raw is None:
        return '{"type":"object","properties":{}}'
    if not isinstance(raw, dict) or raw.get("type", "object") != "object":
        raise _fail("tools", f"{at} must be a JSON Schema object with type object", at=at)
    text = orjson.dumps(raw).decode()
    if len(text) > MAX_PARAMETERS or "\\u0000" in text:
        raise _fail("tools", f"{at} is longer than {MAX_PARAMETERS} bytes or holds NUL", at=at)
    return text


def _tool(raw: object, i: int, kept: Mapping[str, AssistantTool]) -> AssistantTool:
    where = f"tools[{i}]"
    if not isinstance(raw, dict):
        raise _fail("tools", f"{where} must be an object", at=where)
    _no_unknown(raw, TOOL_FIELDS, where)
    name = raw.get("name")
    if not isinstance(name, str) or not _TOOL_NAME.match(name):
        raise _fail("tools", f"{where}.name must match [a-zA-Z0-9_-]{{1,64}}", at=f"{where}.name")
    secret = raw.get("secret")
    if secret is None and name in kept:
        secret = kept[name].secret
    elif secret is None:
        raise _fail("tools", f"{where}.secret is required", at=f"{where}.secret")
    secret = _text(secret, "tools", most=MAX_SECRET, at=f"{where}.secret")
    if len(secret) < MIN_SECRET:
        raise _fail("tools", f"{where}.secret must be at least {MIN_SECRET} characters", at=f"{where}.secret")
    timeout = raw.get("timeout_seconds")
    return AssistantTool(
        name=name,
        description=_text(
            raw.get("description", ""),
            "tools",
            most=MAX_TOOL_DESCRIPTION,
            empty=True,
            at=f"{where}.description",
        ),
        parameters=_parameters(raw.get("parameters"), f"{where}.parameters"),
        url=_http_url(raw.get("url"), "tools", at=f"{where}.url"),
        secret=secret,
        timeout_seconds=DEFAULT_TIMEOUT
        if timeout is None
        else _number(timeout, "tools", 1.0, MAX_TIMEOUT, at=f"{where}.timeout_seconds"),
    )


def _tools(raw: object, kept: Sequence[AssistantTool] = ()) -> tuple[AssistantTool, ...]:
    """Tools from the API; one given without `secret` keeps the secret of the kept tool of its name."""
    items = _list(raw, "tools", most=MAX_TOOLS)
    by_name = {t.name: t for t in kept}
    tools = tuple(_tool(t, i, by_name) for i, t in enumerate(items))
    names = [t.name for t in tools]
    for i, name in enumerate(names):
        if name in names[:i]:
            raise _fail("tools", f"tools[{i}].name {name!r} is used twice", at=f"tools[{i}].name")
    return tools


def _optional_text(raw: object, most: int, at: str) -> str | None:
    return None if raw is None else _text(raw, "branding", most=most, at=at)


def _branding(raw: object) -> AssistantBranding:
    if not isinstance(raw, dict):
        raise _fail("branding", "branding must be an object")
    _no_unknown(raw, BRANDING_FIELDS, "branding")
    color = raw.get("primary_color")
    if color is not None and (not isinstance(color, str) or not _COLOR.match(color)):
        raise _fail("branding", "branding.primary_color must look like #rrggbb", at="branding.primary_color")
    logo = raw.get("logo_url")
    suggestions = raw.get("suggestions", [])
    if not isinstance(suggestions, list) or len(suggestions) > MAX_SUGGESTIONS:
        raise _fail(
            "branding",
            f"branding.suggestions must be an array of at most {MAX_SUGGESTIONS} strings",
            at="branding.suggestions",
        )
    return AssistantBranding(
        logo_url=None if logo is None else _http_url(logo, "branding", at="branding.logo_url"),
        primary_color=color,
        title=_optional_text(raw.get("title"), MAX_TITLE, "branding.title"),
        greeting=_optional_text(raw.get("greeting"), MAX_GREETING, "branding.greeting"),
        suggestions=[
            _text(s, "branding", most=MAX_SUGGESTION, at=f"branding.suggestions[{i}]")
            for i, s in enumerate(suggestions)
        ],
    )


def _body(raw: object) -> Mapping[str, Any]:
    if not isinstance(raw, dict):
        raise ValidationError("the body must be a JSON object", code="invalid_type", field="body")
    _no_unknown(raw, FIELDS, "agent")
    return raw


def _required(body: Mapping[str, Any], field: str) -> Any:
    value = body.get(field)
    if value is None:
        raise _fail(field, f"{field} is required")
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
        a = replace(a, name=_text(body["name"], "name", most=MAX_NAME))
    if "customer" in body:
        a = replace(a, customer=validation.identifier(body["customer"], "customer"))
    if "system_prompt" in body:
        a = replace(
            a, system_prompt=_text(body["system_prompt"], "system_prompt", most=MAX_PROMPT, empty=True)
        )
    if "model" in body:
        a = replace(a, model=_text(body["model"], "model", most=MAX_MODEL))
    if "fallback_models" in body:
        a = replace(a, fallback_models=_fallbacks(body["fallback_models"]))
    if "temperature" in body:
        a = replace(a, temperature=_temperature(body["temperature"]))
    if "tools" in body:
        a = replace(a, tools=_tools(body["tools"], current.tools))
    if "allowed_domains" in body:
        a = replace(a, allowed_domains=_domains(body["allowed_domains"]))
    if "branding" in body:
        a = replace(a, branding=_branding(body["branding"]))
    if "template" in body:
        a = replace(a, template=_template(body["template"]))
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
        customer=a.customer,
        template=a.template,
        actor=actor,
        occurred_at=now,
    )


def create(raw: object, *, tenant_id: str, agent_id: str, actor: str, now: datetime) -> AssistantChanged:
    """A new assistant from a POST body: `name` and `customer` are required, the rest has defaults."""
    body = _body(raw)
    _required(body, "name")
    _required(body, "customer")
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
        customer="",
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
    body = _body(raw)  # null clears temperature and template; every other field refuses it
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
        customer=r.customer,
        template=r.template,
        deleted=r.action == "deleted",
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
    }


# --- the domain allowlist -----------------------------------------------------------------------


def _matches(host: str, entry: str) -> tuple[bool, bool]:
    """(exact, wildcard): whether `host` is the entry itself, or a subdomain of a `*.` entry."""
    entry = entry.lower()
    if entry.startswith("*."):
        return False, host.endswith(entry[1:]) and len(host) > len(entry) - 1
    return host == entry, False


def origin_allowed(origin: str | None, allowed_domains: Sequence[str]) -> bool:
    """Whether a page at `origin` (an Origin header: scheme://host[:port]) may use the assistant.

    The host must match an entry (any port); https always, plain http only for hosts the list names
    exactly (localhost and 127.0.0.1 in local development, tests). `null` and anything that is not a bare origin is refused.
    """
    if not origin or origin == "null":
        return False
    try:
        parts = urlsplit(origin)
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError:
        return False
    if parts.scheme not in ("http", "https") or parts.path or parts.query or parts.fragment:
        return False
    host = parts.hostname
    if not host or parts.username is not None or parts.password is not None:
        return False
    exact = wildcard = False
    for entry in allowed_domains:
        e, w = _matches(host, entry)
        exact, wildcard = exact or e, wildcard or w
    return exact or (wildcard and parts.scheme == "https")


def frame_ancestors(allowed_domains: Sequence[str]) -> str:
    """The CSP `frame-ancestors` source list for the allowlist, or `'none'` when it is empty.

    Sources carry `:*` because the allowlist does not restrict ports (a source without a port would
    only match the scheme's default port, breaking http://localhost:8000 pages).
    """
    sources: list[str] = []
    for raw in allowed_domains:
        entry = raw.strip().lower()
        if len(entry) > _MAX_HOST:
            continue
        if _WILDCARD.match(entry):
            sources.append(f"https://{entry}:*")
        elif _HOST.match(entry):  # entries that are not valid hosts cannot reach a CSP header
            sources += [f"https://{entry}:*", f"http://{entry}:*"]
    return " ".join(dict.fromkeys(sources)) or "'none'"
