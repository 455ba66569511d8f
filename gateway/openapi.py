"""The OpenAPI document served at /openapi.json: the public contract of the HTTP API."""

from __future__ import annotations

from typing import Any

_DECIMAL = {"type": "string", "pattern": r"^-?\d+(\.\d{1,9})?$", "description": "exact decimal"}
_TIME = {"type": "string", "format": "date-time"}
_ERROR = {
    "description": "error",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
}


def _json(schema: dict[str, Any], description: str = "ok") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _op(summary: str, responses: dict[str, Any], body: str | None = None, **extra: Any) -> dict[str, Any]:
    op: dict[str, Any] = {"summary": summary, "responses": {**responses, "400": _ERROR, "401": _ERROR}}
    if body:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": _ref(body)}}}
    op.update(extra)
    return op


_CUSTOMER = {"name": "customer", "in": "path", "required": True, "schema": {"type": "string"}}
_EVENT = {
    "name": "event_id",
    "in": "path",
    "required": True,
    "description": "may contain `/`, escaped as `%2F` or not",
    "schema": {"type": "string"},
}
_PAGE = [
    {
        "name": "limit",
        "in": "query",
        "schema": {"type": "integer", "minimum": 1, "maximum": 500, "default": 50},
    },
    {"name": "cursor", "in": "query", "schema": {"type": "string"}},
]
_AGENT = {"name": "agent_id", "in": "path", "required": True, "schema": {"type": "string"}}
_CHAT_FILTERS = [
    {"name": "agent_id", "in": "query", "schema": {"type": "string"}},
    {"name": "since", "in": "query", "schema": _TIME, "description": "inclusive"},
    {"name": "until", "in": "query", "schema": _TIME, "description": "exclusive"},
]
_OPTIONAL_VOID = {"required": False, "content": {"application/json": {"schema": _ref("VoidRequest")}}}

OPENAPI: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "Revos API", "version": "1"},
    "components": {
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        "schemas": {
            "Error": {
                "type": "object",
                "properties": {
                    "error": {
                        "type": "object",
                        "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
                        "required": ["code", "message"],
                    }
                },
            },
            "UsageEvent": {
                "type": "object",
                "required": ["id", "customer", "type"],
                "additionalProperties": False,
                "properties": {
                    "id": {
                        "type": "string",
                        "maxLength": 200,
                        "description": "idempotency key, unique per tenant",
                    },
                    "customer": {"type": "string", "maxLength": 200},
                    "type": {"type": "string", "maxLength": 200},
                    "timestamp": {**_TIME, "description": "event time; 35 days back to 5 minutes ahead"},
                    "quantity": {"oneOf": [_DECIMAL, {"type": "number", "minimum": 0}], "default": "1"},
                    "properties": {
                        "type": "object",
                        "additionalProperties": {"type": ["string", "number", "boolean"]},
                    },
                },
            },
            "EventBatch": {
                "type": "object",
                "required": ["events"],
                "properties": {"events": {"type": "array", "maxItems": 1000, "items": _ref("UsageEvent")}},
            },
            "EventResults": {
                "type": "object",
                "properties": {
                    "accepted": {"type": "integer"},
                    "rejected": {"type": "integer"},
                    "results": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {
                                "id": {"type": ["string", "null"]},
                                "status": {"enum": ["accepted", "rejected"]},
                                "code": {"type": "string"},
                                "message": {"type": "string"},
                            },
                        },
                    },
                },
            },
            "BurnRule": {
                "type": "object",
                "required": ["type", "credits_per_unit"],
                "properties": {
                    "type": {"type": "string"},
                    "match": {
                        "type": "object",
                        "additionalProperties": {"type": ["string", "number", "boolean"]},
                    },
                    "credits_per_unit": _DECIMAL,
                    "cost_per_unit": _DECIMAL,
                },
            },
            "BurnTable": {
                "type": "object",
                "required": ["rules"],
                "properties": {"rules": {"type": "array", "items": _ref("BurnRule")}, "effective_at": _TIME},
            },
            "CustomerSettings": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "burn_table": {"type": "string", "default": "default"},
                    "credit_limit": _DECIMAL,
                    "metadata": {"type": "object", "additionalProperties": {"type": "string"}},
                    "alert_thresholds": {
                        "type": "array",
                        "maxItems": 10,
                        "items": {"oneOf": [_DECIMAL, {"type": "number"}]},
                        "description": "balances that raise balance.threshold_crossed when crossed downwards; "
                        "answered deduplicated, highest first",
                    },
                },
            },
            "EntitlementRequest": {
                "oneOf": [
                    {
                        "type": "object",
                        "required": ["kind", "enabled"],
                        "additionalProperties": False,
                        "properties": {"kind": {"const": "boolean"}, "enabled": {"type": "boolean"}},
                    },
                    {
                        "type": "object",
                        "required": ["kind", "limit"],
                        "additionalProperties": False,
                        "properties": {"kind": {"const": "limit"}, "limit": _DECIMAL},
                    },
                    {
                        "type": "object",
                        "required": ["kind", "event_type", "allowance", "period"],
                        "additionalProperties": False,
                        "properties": {
                            "kind": {"const": "metered"},
                            "event_type": {"type": "string", "maxLength": 200},
                            "match": {
                                "type": "object",
                                "additionalProperties": {"type": ["string", "number", "boolean"]},
                            },
                            "allowance": _DECIMAL,
                            "period": {"enum": ["day", "month"]},
                        },
                    },
                ],
            },
            "Entitlement": {
                "type": "object",
                "required": ["feature", "kind"],
                "properties": {
                    "feature": {"type": "string"},
                    "kind": {"enum": ["boolean", "limit", "metered"]},
                    "enabled": {"type": "boolean"},
                    "limit": _DECIMAL,
                    "event_type": {"type": "string"},
                    "match": {"type": "object"},
                    "allowance": _DECIMAL,
                    "period": {"enum": ["day", "month"]},
                    "used": {**_DECIMAL, "description": "metered: usage counted in the current period"},
                    "remaining": {**_DECIMAL, "description": "metered: allowance - used, at least 0"},
                    "period_start": _TIME,
                    "updated_at": _TIME,
                    "status": {"enum": ["applied", "pending"], "description": "answers to PUT only"},
                },
            },
            "CheckRequest": {
                "type": "object",
                "required": ["customer"],
                "additionalProperties": False,
                "properties": {
                    "customer": {"type": "string", "maxLength": 200},
                    "feature": {"type": "string", "maxLength": 200},
                    "credits": {**_DECIMAL, "default": "0", "description": "credits about to be spent"},
                    "hold": {
                        "type": "object",
                        "additionalProperties": False,
                        "description": "reserve `credits` until usage `event_id` is charged, the hold is "
                        "released, or ttl_seconds pass; the billing pipeline decides, in order with every "
                        "other hold and charge of the customer",
                        "properties": {
                            "event_id": {"type": "string", "maxLength": 200},
                            "ttl_seconds": {"type": "integer", "minimum": 1, "maximum": 3600, "default": 60},
                        },
                    },
                },
            },
            "CheckResult": {
                "type": "object",
                "required": ["allowed", "reason", "balance", "as_of", "lag_ms"],
                "properties": {
                    "allowed": {"type": "boolean"},
                    "reason": {
                        "enum": [
                            "ok",
                            "feature_not_entitled",
                            "feature_disabled",
                            "allowance_exhausted",
                            "insufficient_credits",
                            "hold_timeout",
                        ]
                    },
                    "balance": _DECIMAL,
                    "on_hold": {**_DECIMAL, "description": "credits reserved by running holds"},
                    "hold": {
                        "type": "object",
                        "description": "the hold placed, when one was asked for and allowed",
                        "properties": {
                            "hold_id": {"type": "string"},
                            "credits": _DECIMAL,
                            "expires_at": _TIME,
                            "event_id": {"type": ["string", "null"]},
                        },
                    },
                    "remaining": {**_DECIMAL, "description": "metered: allowance left; limit: the limit"},
                    "as_of": {
                        **_TIME,
                        "type": ["string", "null"],
                        "description": "all writes before it are seen",
                    },
                    "lag_ms": {"type": ["integer", "null"], "description": "upper bound on staleness"},
                },
            },
            "GrantRequest": {
                "type": "object",
                "required": ["amount"],
                "properties": {
                    "id": {"type": "string"},
                    "amount": _DECIMAL,
                    "priority": {"type": "integer", "description": "higher burns first"},
                    "effective_at": _TIME,
                    "expires_at": _TIME,
                    "reason": {"type": "string"},
                },
            },
            "VoidRequest": {
                "type": "object",
                "additionalProperties": False,
                "properties": {"reason": {"type": "string", "maxLength": 1000}},
            },
            "AmendRequest": {
                "type": "object",
                "additionalProperties": False,
                "description": "at least one of quantity and properties",
                "properties": {
                    "quantity": {"oneOf": [_DECIMAL, {"type": "number", "minimum": 0}]},
                    "properties": {
                        "type": "object",
                        "additionalProperties": {"type": ["string", "number", "boolean"]},
                    },
                    "reason": {"type": "string", "maxLength": 1000},
                },
            },
            "Correction": {
                "type": "object",
                "properties": {
                    "event_id": {"type": "string"},
                    "correction_id": {"type": ["string", "null"]},
                    "status": {"enum": ["applied", "unchanged", "pending"]},
                    "credits_before": _DECIMAL,
                    "credits_after": _DECIMAL,
                    "charge": {"type": "object"},
                },
            },
            "AgentTool": {
                "type": "object",
                "required": ["name", "url"],
                "additionalProperties": False,
                "properties": {
                    "name": {"type": "string", "pattern": "^[a-zA-Z0-9_-]{1,64}$"},
                    "description": {"type": "string", "maxLength": 1000},
                    "parameters": {"type": "object", "description": "JSON Schema of the arguments"},
                    "url": {"type": "string", "format": "uri", "description": "http(s); called with POST"},
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
                "description": "POST needs name and customer; PATCH replaces each field given (tools: the "
                "whole list). A template fills the prompt, greeting and suggestions a request does not give.",
                "properties": {
                    "agent_id": {"type": "string", "readOnly": True, "description": "agt_<32 hex>"},
                    "name": {"type": "string", "maxLength": 200},
                    "customer": {"type": "string", "description": "billing customer charged for its tokens"},
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
                        "description": "hosts (shop.example.com) or wildcards (*.example.com: subdomains "
                        "only) whose pages may embed the agent; no scheme, port or path",
                    },
                    "branding": _ref("AgentBranding"),
                    "created_at": {**_TIME, "readOnly": True},
                    "updated_at": {**_TIME, "readOnly": True},
                    "status": {
                        "enum": ["applied", "pending"],
                        "readOnly": True,
                        "description": "writes only",
                    },
                },
            },
            "Conversation": {
                "type": "object",
                "properties": {
                    "conversation_id": {"type": "string"},
                    "agent_id": {"type": "string"},
                    "visitor_id": {"type": ["string", "null"]},
                    "origin": {"type": ["string", "null"]},
                    "started_at": _TIME,
                    "last_message_at": _TIME,
                    "last_seq": {"type": "integer"},
                },
            },
            "ChatMessage": {
                "type": "object",
                "properties": {
                    "seq": {"type": "integer"},
                    "message_id": {"type": "string"},
                    "role": {"enum": ["user", "assistant", "tool"]},
                    "content": {"type": "string"},
                    "status": {"enum": ["complete", "interrupted", "failed", "unavailable"]},
                    "client_message_id": {"type": ["string", "null"]},
                    "reply_to": {"type": ["integer", "null"]},
                    "model": {"type": ["string", "null"]},
                    "latency_ms": {"type": ["integer", "null"]},
                    "first_token_ms": {"type": ["integer", "null"]},
                    "input_tokens": {"type": ["integer", "null"]},
                    "output_tokens": {"type": ["integer", "null"]},
                    "tool_calls": {"type": ["array", "null"]},
                    "tool_name": {"type": ["string", "null"]},
                    "tool_call_id": {"type": ["string", "null"]},
                    "occurred_at": _TIME,
                },
            },
        },
    },
    "security": [{"bearer": []}],
    "paths": {
        "/v1/events": {
            "post": _op(
                "Send usage events",
                {"200": _json(_ref("EventResults")), "413": _ERROR, "503": _ERROR},
                body="EventBatch",
            )
        },
        "/v1/burn-tables/{name}": {
            "put": _op(
                "Publish a new burn-table version",
                {
                    "200": _json({"type": "object"}),
                    "202": _json({"type": "object"}, "accepted, not yet applied"),
                },
                body="BurnTable",
                parameters=[{"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}],
            ),
            "get": _op(
                "The newest version of a burn table",
                {"200": _json({"type": "object"}), "404": _ERROR},
                parameters=[{"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}],
            ),
        },
        "/v1/customers/{customer}": {
            "put": _op(
                "Set a customer's burn table, credit limit and metadata",
                {
                    "200": _json(_ref("CustomerSettings")),
                    "202": _json(_ref("CustomerSettings"), "not yet applied"),
                },
                body="CustomerSettings",
                parameters=[_CUSTOMER],
            ),
            "get": _op(
                "A customer's settings",
                {"200": _json(_ref("CustomerSettings")), "404": _ERROR},
                parameters=[_CUSTOMER],
            ),
        },
        "/v1/customers/{customer}/entitlements/{feature}": {
            "put": _op(
                "Set a customer's entitlement to a feature (boolean, limit or metered), replacing any",
                {"200": _json(_ref("Entitlement")), "202": _json(_ref("Entitlement"), "not yet applied")},
                body="EntitlementRequest",
                parameters=[
                    _CUSTOMER,
                    {"name": "feature", "in": "path", "required": True, "schema": {"type": "string"}},
                ],
            )
        },
        "/v1/customers/{customer}/entitlements": {
            "get": _op(
                "A customer's entitlements, with usage in the current period for metered ones",
                {
                    "200": _json(
                        {
                            "type": "object",
                            "properties": {
                                "customer": {"type": "string"},
                                "entitlements": {"type": "array", "items": _ref("Entitlement")},
                            },
                        }
                    ),
                    "404": _ERROR,
                },
                parameters=[_CUSTOMER],
            )
        },
        "/v1/check": {
            "post": _op(
                "May a customer use a feature and spend credits now? Answers how fresh the answer is",
                {"200": _json(_ref("CheckResult"))},
                body="CheckRequest",
            )
        },
        "/v1/holds/{hold_id}": {
            "delete": _op(
                "Release a hold before it is used or expires (releasing an ended hold changes nothing)",
                {"200": _json({"type": "object"}), "404": _ERROR},
                parameters=[
                    {"name": "hold_id", "in": "path", "required": True, "schema": {"type": "string"}}
                ],
            )
        },
        "/v1/audit": {
            "get": _op(
                "The tenant's audit log, oldest first",
                {"200": _json({"type": "object"})},
                parameters=[
                    {"name": n, "in": "query", "schema": {"type": "string"}}
                    for n in ("target", "action", "since", "limit", "cursor")
                ],
            )
        },
        "/v1/customers/{customer}/grants": {
            "post": _op(
                "Grant credits",
                {"201": _json({"type": "object"}), "200": _json({"type": "object"}, "already granted")},
                body="GrantRequest",
                parameters=[_CUSTOMER],
            )
        },
        "/v1/customers/{customer}/balance": {
            "get": _op(
                "A customer's balance and grants",
                {"200": _json({"type": "object"}), "404": _ERROR},
                parameters=[_CUSTOMER],
            )
        },
        "/v1/customers/{customer}/charges": {
            "get": _op(
                "A customer's charges, newest first",
                {"200": _json({"type": "object"}), "404": _ERROR},
                parameters=[
                    _CUSTOMER,
                    {
                        "name": "limit",
                        "in": "query",
                        "schema": {"type": "integer", "minimum": 1, "maximum": 500},
                    },
                    {"name": "cursor", "in": "query", "schema": {"type": "string"}},
                ],
            )
        },
        "/v1/customers/{customer}/grants/{grant_id}/void": {
            "post": _op(
                "Void the unspent credits of a grant",
                {
                    "200": _json({"type": "object"}, "voided (or already voided)"),
                    "202": _json({"type": "object"}, "not yet applied"),
                    "404": _ERROR,
                    "409": _ERROR,
                },
                requestBody=_OPTIONAL_VOID,
                parameters=[
                    _CUSTOMER,
                    {"name": "grant_id", "in": "path", "required": True, "schema": {"type": "string"}},
                ],
            )
        },
        "/v1/customers/{customer}/ledger": {
            "get": _op(
                "Every movement of a customer's credits, oldest first, with the running balance",
                {"200": _json({"type": "object"}), "404": _ERROR},
                parameters=[_CUSTOMER, *_PAGE],
            )
        },
        "/v1/customers/{customer}/alerts": {
            "get": _op(
                "The balance thresholds a customer crossed, oldest first",
                {"200": _json({"type": "object"}), "404": _ERROR},
                parameters=[_CUSTOMER, *_PAGE],
            )
        },
        "/v1/events/{event_id}/void": {
            "post": _op(
                "Void a charged usage event: its credits are refunded",
                {
                    "200": _json(_ref("Correction")),
                    "202": _json(_ref("Correction"), "not yet applied"),
                    "404": _ERROR,
                    "409": _ERROR,
                },
                requestBody=_OPTIONAL_VOID,
                parameters=[_EVENT],
            )
        },
        "/v1/events/{event_id}/amend": {
            "post": _op(
                "Amend a charged usage event's quantity or properties; re-priced by the same burn-table version",
                {
                    "200": _json(_ref("Correction")),
                    "202": _json(_ref("Correction"), "not yet applied"),
                    "404": _ERROR,
                    "409": _ERROR,
                    "422": _ERROR,
                },
                body="AmendRequest",
                parameters=[_EVENT],
            )
        },
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
        "/v1/conversations": {
            "get": _op(
                "Conversations, newest first (by start), optionally of one agent and a time range",
                {
                    "200": _json(
                        {
                            "type": "object",
                            "properties": {
                                "conversations": {"type": "array", "items": _ref("Conversation")},
                                "next_cursor": {"type": ["string", "null"]},
                            },
                        }
                    )
                },
                parameters=[*_CHAT_FILTERS, *_PAGE],
            )
        },
        "/v1/conversations/export": {
            "get": _op(
                "Every message whose time is in [since, until), oldest first, streamed as CSV (with a header "
                "row) or a JSON array",
                {
                    "200": {
                        "description": "conversation_id, seq, role, status, content, model, input_tokens, "
                        "output_tokens, occurred_at, agent_id per message",
                        "content": {
                            "text/csv": {"schema": {"type": "string"}},
                            "application/json": {"schema": {"type": "array", "items": {"type": "object"}}},
                        },
                    }
                },
                parameters=[
                    {"name": "format", "in": "query", "schema": {"enum": ["csv", "json"], "default": "json"}},
                    *_CHAT_FILTERS,
                ],
            )
        },
        "/v1/conversations/{conversation_id}": {
            "get": _op(
                "A conversation with all its messages in order",
                {
                    "200": _json(
                        {
                            "allOf": [
                                _ref("Conversation"),
                                {
                                    "type": "object",
                                    "properties": {
                                        "messages": {"type": "array", "items": _ref("ChatMessage")}
                                    },
                                },
                            ]
                        }
                    ),
                    "404": _ERROR,
                },
                parameters=[
                    {"name": "conversation_id", "in": "path", "required": True, "schema": {"type": "string"}}
                ],
            )
        },
        "/widget.js": {
            "get": {
                "summary": "The embeddable chat widget script (ETag; answers 304 to a matching If-None-Match)",
                "security": [],
                "responses": {
                    "200": {"description": "the script", "content": {"application/javascript": {}}},
                    "304": {"description": "not modified"},
                },
            }
        },
        "/chat/{agent_id}": {
            "get": {
                "summary": "The agent's chat as a full page, for iframes; "
                "Content-Security-Policy frame-ancestors lists the agent's allowed domains",
                "security": [],
                "parameters": [
                    {"name": "agent_id", "in": "path", "required": True, "schema": {"type": "string"}}
                ],
                "responses": {
                    "200": {"description": "the chat page", "content": {"text/html": {}}},
                    "404": {"description": "no such agent", "content": {"text/html": {}}},
                },
            }
        },
        "/v1/widget/sessions": {
            "post": {
                "summary": "A chat session token for the widget on a page whose Origin the agent allows "
                "(no API key; the websocket WS /v1/chat?token=... speaks the protocol of docs/chat.md)",
                "security": [],
                "parameters": [
                    {"name": "Origin", "in": "header", "required": True, "schema": {"type": "string"}}
                ],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["agent_id"],
                                "properties": {
                                    "agent_id": {"type": "string"},
                                    "visitor_id": {"type": "string"},
                                },
                            }
                        }
                    },
                },
                "responses": {
                    "201": _json(
                        {
                            "type": "object",
                            "properties": {
                                "token": {"type": "string"},
                                "expires_at": _TIME,
                                "visitor_id": {"type": "string"},
                                "agent": {
                                    "type": "object",
                                    "properties": {
                                        "agent_id": {"type": "string"},
                                        "name": {"type": "string"},
                                        "branding": {"type": "object"},
                                    },
                                },
                            },
                        }
                    ),
                    "400": _ERROR,
                    "403": {**_ERROR, "description": "origin_required or origin_not_allowed"},
                    "404": _ERROR,
                },
            },
            "options": {
                "summary": "CORS preflight for the widget",
                "security": [],
                "responses": {"204": {"description": "allowed methods and headers"}},
            },
        },
        "/healthz": {
            "get": {"summary": "Liveness", "security": [], "responses": {"200": {"description": "alive"}}}
        },
        "/readyz": {
            "get": {
                "summary": "Readiness (database and broker reachable)",
                "security": [],
                "responses": {"200": {"description": "ready"}, "503": _ERROR},
            }
        },
    },
}
