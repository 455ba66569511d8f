"""An assistant's tools (webhooks the model may call) from API input: name, JSON Schema, URL, signing
secret and timeout, each checked; a tool given without `secret` keeps the one already stored."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from urllib.parse import urlsplit

import orjson

from pipeline import validation
from pipeline.assistants import fields
from pipeline.assistants.tool_addresses import canonical_url
from pipeline.records import AssistantTool

MAX_TOOLS = 20
MAX_TOOL_DESCRIPTION = 1_000
MAX_PARAMETERS = 20_000  # bytes of a tool's JSON Schema
MIN_SECRET = 16
MAX_SECRET = 256
MAX_TIMEOUT = 30.0
DEFAULT_TIMEOUT = 10.0
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})

TOOL_FIELDS = frozenset({"name", "description", "parameters", "url", "secret", "timeout_seconds"})

_TOOL_NAME = re.compile(r"[a-zA-Z0-9_-]{1,64}")


def _parameters(raw: object, at: str) -> str:
    if raw is None:
        return '{"type":"object","properties":{}}'
    if not isinstance(raw, dict) or raw.get("type", "object") != "object":
        raise fields.fail("tools", f"{at} must be a JSON Schema object with type object", at=at)
    text = orjson.dumps(raw).decode()
    if len(text) > MAX_PARAMETERS or "\\u0000" in text:
        raise fields.fail("tools", f"{at} is longer than {MAX_PARAMETERS} bytes or holds NUL", at=at)
    return text


def _url(raw: object, at: str) -> str:
    """An https URL whose host has a wire form (it is called as that, see pipeline/assistants/tool_addresses.py);
    plain http only to this machine, which a tool reaches only in development (private addresses)."""
    url = fields.http_url(raw, "tools", at=at)
    try:
        canonical_url(url)
    except ValueError as exc:
        raise fields.fail("tools", f"{at} has a host name that is not valid: {exc}", at=at) from exc
    parts = urlsplit(url)
    if parts.scheme.lower() == "http" and parts.hostname not in LOOPBACK_HOSTS:
        raise fields.fail(
            "tools",
            f"{at} must be an https URL: over plain http the signed request and the tool's answer can be "
            "read and changed on the way (http is allowed only for localhost, in development)",
            at=at,
        )
    return url


def _tool(raw: object, i: int, kept: Mapping[str, AssistantTool]) -> AssistantTool:
    where = f"tools[{i}]"
    if not isinstance(raw, dict):
        raise fields.fail("tools", f"{where} must be an object", at=where)
    fields.no_unknown(raw, TOOL_FIELDS, where)
    name = raw.get("name")
    if not isinstance(name, str) or not _TOOL_NAME.fullmatch(name):
        raise fields.fail("tools", f"{where}.name must match [a-zA-Z0-9_-]{{1,64}}", at=f"{where}.name")
    secret = raw.get("secret")
    if secret is None and name in kept:
        secret = kept[name].secret
    elif secret is None:
        raise fields.fail("tools", f"{where}.secret is required", at=f"{where}.secret")
    secret = fields.text(secret, "tools", most=MAX_SECRET, at=f"{where}.secret")
    if len(secret) < MIN_SECRET:
        raise fields.fail(
            "tools", f"{where}.secret must be at least {MIN_SECRET} characters", at=f"{where}.secret"
        )
    timeout = raw.get("timeout_seconds")
    return AssistantTool(
        name=name,
        description=fields.text(
            raw.get("description", ""),
            "tools",
            most=MAX_TOOL_DESCRIPTION,
            empty=True,
            at=f"{where}.description",
        ),
        parameters=_parameters(raw.get("parameters"), f"{where}.parameters"),
        url=_url(raw.get("url"), f"{where}.url"),
        secret=secret,
        timeout_seconds=DEFAULT_TIMEOUT
        if timeout is None
        else fields.number(timeout, "tools", 1.0, MAX_TIMEOUT, at=f"{where}.timeout_seconds"),
    )


def tools(raw: object, kept: Sequence[AssistantTool] = ()) -> tuple[AssistantTool, ...]:
    """Tools from the API; one given without `secret` keeps the secret of the kept tool of its name."""
    items = fields.array(raw, "tools", most=MAX_TOOLS)
    by_name = {t.name: t for t in kept}
    tools = tuple(_tool(t, i, by_name) for i, t in enumerate(items))
    names = [t.name for t in tools]
    for i, name in enumerate(names):
        if name in names[:i]:
            raise fields.fail("tools", f"tools[{i}].name {name!r} is used twice", at=f"tools[{i}].name")
    return tools


TEST_CALL_FIELDS = frozenset({"arguments"})


def arguments_to_test(raw: object) -> dict[str, object]:
    """The arguments of a test call of a tool: `{"arguments": {...}}`; none (or null) is `{}`."""
    if not isinstance(raw, dict):
        raise fields.fail("arguments", 'the body must be a JSON object: {"arguments": {...}}')
    validation.no_unknown(raw, TEST_CALL_FIELDS, "the test call")
    arguments = raw.get("arguments")
    if arguments is None:
        return {}
    if not isinstance(arguments, dict):
        raise fields.fail("arguments", "arguments must be a JSON object, as a model sends them")
    return arguments
