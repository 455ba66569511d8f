"""OpenAPI schemas and paths of the chat widget's AI agents."""

from __future__ import annotations

from typing import Any

from gateway.openapi.fragments import _ERROR, _TIME, _json, _op, _ref

_AGENT = {"name": "agent_id", "in": "path", "required": True, "schema": {"type": "string"}}
_TOOL = {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}
_HEADERS = {"type": "object", "additionalProperties": {"type": "string"}}

SCHEMAS: dict[str, Any] = {
    "AgentTool": {
        "type": "object",
        "required": ["name", "url"],
        "additionalProperties": False,
        "properties": {
            "name": {"type": "string", "pattern": "^[a-zA-Z0-9_-]{1,64}$"},
            "description": {"type": "string", "maxLength": 1000},
            "parameters": {"type": "object", "description": "JSON Schema of the arguments"},
            "url": {
                "type": "string",
                "format": "uri",
                "description": "https (plain http only to localhost); called with a signed POST",
            },
            "secret": {
                "type": "string",
                "minLength": 16,
                "writeOnly": True,
                "description": "HMAC-SHA256 key signing each call; required for a new tool, kept "
                "when a PATCH names an existing tool without it; never returned",
            },
            "secret_set": {"type": "boolean", "readOnly": True},
            "timeout_seconds": {"type": "number", "minimum": 1, "maximum": 30, "default": 10},
        },
    },
    "AgentBranding": {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "logo_url": {"type": ["string", "null"], "format": "uri"},
            "primary_color": {"type": ["string", "null"], "pattern": "^#[0-9a-fA-F]{6}$"},
            "title": {"type": ["string", "null"], "maxLength": 100},
            "greeting": {"type": ["string", "null"], "maxLength": 1000},
            "suggestions": {"type": "array", "maxItems": 6, "items": {"type": "string"}},
        },
    },
    "Agent": {
        "type": "object",
        "additionalProperties": False,
        "description": "POST needs name; PATCH replaces each field given (tools: the whole list). A "
        "template fills the prompt, greeting and suggestions a request does not give.",
        "properties": {
            "agent_id": {"type": "string", "readOnly": True, "description": "agt_<32 hex>"},
            "name": {"type": "string", "maxLength": 200},
            "customer": {
                "type": ["string", "null"],
                "maxLength": 200,
                "description": "billing customer whose credits are checked before each reply and "
                "charged for its tokens; null or absent: no billing (no check, no charge). PATCH with "
                "null clears it",
            },
            "template": {"enum": ["support", "sales", "onboarding", None]},
            "system_prompt": {"type": "string", "maxLength": 20000},
            "model": {"type": "string", "default": "openrouter/auto"},
            "fallback_models": {"type": "array", "maxItems": 5, "items": {"type": "string"}},
            "temperature": {"type": ["number", "null"], "minimum": 0, "maximum": 2},
            "tools": {"type": "array", "maxItems": 20, "items": _ref("AgentTool")},
            "allowed_domains": {
                "type": "array",
                "maxItems": 50,
                "items": {"type": "string"},
                "description": "hosts (shop.example.com: https only; http://shop.example.com: plain "
                "http too) or wildcards (*.example.com: subdomains only, https only, never over a public "
                "suffix) whose pages may embed the agent; no port or path",
            },
            "branding": _ref("AgentBranding"),
            "voice": _ref("AgentVoice"),
            "created_at": {**_TIME, "readOnly": True},
            "updated_at": {**_TIME, "readOnly": True},
            "status": {
                "enum": ["applied", "pending"],
                "readOnly": True,
                "description": "writes only",
            },
        },
    },
    "Sighting": {
        "type": "object",
        "additionalProperties": False,
        "required": ["origin", "allowed", "in_allowlist", "first_seen", "last_seen", "sessions", "refused"],
        "properties": {
            "origin": {
                "type": "string",
                "description": "the Origin header of the session requests (a hint: programs outside a "
                "browser can send any)",
            },
            "allowed": {"type": "boolean", "description": "whether the last session request was allowed"},
            "in_allowlist": {
                "type": "boolean",
                "description": "whether the agent's allowlist names the origin now",
            },
            "first_seen": _TIME,
            "last_seen": _TIME,
            "sessions": {"type": "integer", "minimum": 1, "description": "session requests in all"},
            "refused": {"type": "integer", "minimum": 0, "description": "of them, refused"},
        },
    },
    "ToolTest": {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "arguments": {
                "type": "object",
                "description": "the arguments, as a model would send them; default {}",
            }
        },
    },
    "ToolTestResult": {
        "type": "object",
        "required": ["tool", "ok", "error", "result", "request", "response", "duration_ms"],
        "properties": {
            "tool": {"type": "string"},
            "ok": {"type": "boolean", "description": "the tool answered 2xx in time"},
            "error": {"type": ["string", "null"], "description": "why the call failed"},
            "result": {"type": "string", "description": "what a model would be given"},
            "request": {
                "description": "the signed request as sent; null when none could be made",
                "oneOf": [
                    {"type": "null"},
                    {
                        "type": "object",
                        "properties": {
                            "method": {"const": "POST"},
                            "url": {"type": "string"},
                            "headers": _HEADERS,
                            "body": {"type": "string"},
                        },
                    },
                ],
            },
            "response": {
                "description": "the tool's answer; null when none came",
                "oneOf": [
                    {"type": "null"},
                    {
                        "type": "object",
                        "properties": {
                            "status": {"type": "integer"},
                            "headers": _HEADERS,
                            "body": {"type": ["string", "null"]},
                            "truncated": {"type": "boolean", "description": "cut at 64 KiB"},
                        },
                    },
                ],
            },
            "duration_ms": {"type": "integer"},
        },
    },
}

PATHS: dict[str, Any] = {
    "/v1/agents": {
        "post": _op(
            "Create an AI agent (assistant) for the chat widget",
            {"201": _json(_ref("Agent")), "202": _json(_ref("Agent"), "not yet applied")},
            body="Agent",
        ),
        "get": _op(
            "The tenant's agents, oldest first",
            {
                "200": _json(
                    {
                        "type": "object",
                        "properties": {"agents": {"type": "array", "items": _ref("Agent")}},
                    }
                )
            },
        ),
    },
    "/v1/agents/{agent_id}": {
        "get": _op("An agent", {"200": _json(_ref("Agent")), "404": _ERROR}, parameters=[_AGENT]),
        "patch": _op(
            "Change an agent: each field given replaces the current one",
            {"200": _json(_ref("Agent")), "202": _json(_ref("Agent"), "not yet applied"), "404": _ERROR},
            body="Agent",
            parameters=[_AGENT],
        ),
        "delete": _op(
            "Delete an agent: its widget stops working; its conversations stay",
            {
                "200": _json(
                    {
                        "type": "object",
                        "properties": {
                            "agent_id": {"type": "string"},
                            "deleted": {"const": True},
                            "status": {"enum": ["applied", "pending"]},
                        },
                    }
                ),
                "202": _json({"type": "object"}, "not yet applied"),
                "404": _ERROR,
            },
            parameters=[_AGENT],
        ),
    },
    "/v1/agents/{agent_id}/sightings": {
        "get": _op(
            "The page origins the agent's widget asked for sessions from, allowed or refused, the most "
            "recently seen first (at most 100 origins; counts written about once a minute)",
            {
                "200": _json(
                    {
                        "type": "object",
                        "required": ["sightings"],
                        "properties": {"sightings": {"type": "array", "items": _ref("Sighting")}},
                    }
                ),
                "404": _ERROR,
            },
            parameters=[_AGENT],
        )
    },
    "/v1/agents/{agent_id}/tools/{name}/test": {
        "post": _op(
            "Send a signed test call to one of the agent's tools, exactly as a chat turn would, and see "
            "the request sent and the answer received (or the error)",
            {"200": _json(_ref("ToolTestResult")), "404": _ERROR},
            parameters=[_AGENT, _TOOL],
            requestBody={"required": False, "content": {"application/json": {"schema": _ref("ToolTest")}}},
        ),
    },
}
