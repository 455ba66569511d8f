"""OpenAPI schemas and paths of a tenant's alert webhooks: endpoints, their delivery logs, redelivery."""

from __future__ import annotations

from typing import Any

from gateway.openapi.fragments import _ERROR, _PAGE, _TIME, _json, _op, _ref
from pipeline.webhooks.endpoints import EVENT_TYPES, MAX_DESCRIPTION

_ID = {"name": "endpoint_id", "in": "path", "required": True, "schema": {"type": "string"}}
_DELIVERY_ID = {"name": "delivery_id", "in": "path", "required": True, "schema": {"type": "string"}}
_MAYBE_TIME = {**_TIME, "type": ["string", "null"]}
_MAYBE_TEXT = {"type": ["string", "null"]}
_URL = {"type": "string", "format": "uri", "maxLength": 2000, "description": "http or https"}
_TYPES = {
    "type": "array",
    "minItems": 1,
    "items": {"enum": list(EVENT_TYPES)},
    "description": "the events it receives (unknown_event_type otherwise)",
}
_DESCRIPTION = {"type": ["string", "null"], "maxLength": MAX_DESCRIPTION}
_STATUS = {"enum": ["applied", "pending"]}
_SECRET = {
    "type": "string",
    "description": "whsec_…: signs every delivery (Standard Webhooks); shown only in this answer",
}

_ENDPOINT = {
    "endpoint_id": {"type": "string"},
    "url": _URL,
    "event_types": _TYPES,
    "description": _DESCRIPTION,
    "enabled": {"type": "boolean"},
    "disabled_reason": {**_MAYBE_TEXT, "description": "why it was disabled (by Revos after failing)"},
    "created_at": _TIME,
    "updated_at": _TIME,
}

SCHEMAS: dict[str, Any] = {
    "WebhookEndpoint": {"type": "object", "properties": _ENDPOINT},
    "WebhookEndpointWritten": {"type": "object", "properties": {**_ENDPOINT, "status": _STATUS}},
    "WebhookEndpointWithSecret": {
        "type": "object",
        "properties": {**_ENDPOINT, "secret": _SECRET, "status": _STATUS},
    },
    "WebhookEndpointCreate": {
        "type": "object",
        "additionalProperties": False,
        "required": ["url", "event_types"],
        "properties": {"url": _URL, "event_types": _TYPES, "description": _DESCRIPTION},
    },
    "WebhookEndpointUpdate": {
        "type": "object",
        "additionalProperties": False,
        "minProperties": 1,
        "properties": {
            "url": _URL,
            "event_types": _TYPES,
            "description": _DESCRIPTION,
            "enabled": {"type": "boolean", "description": "true enables a disabled endpoint again"},
        },
    },
    "WebhookDelivery": {
        "type": "object",
        "properties": {
            "delivery_id": {"type": "string", "description": "the webhook-id header of every attempt"},
            "event_type": {"type": "string"},
            "status": {"enum": ["pending", "retrying", "delivered", "failed"]},
            "attempts": {"type": "integer"},
            "last_status_code": {"type": ["integer", "null"]},
            "last_error": _MAYBE_TEXT,
            "next_attempt_at": _MAYBE_TIME,
            "delivered_at": _MAYBE_TIME,
            "failed_at": _MAYBE_TIME,
            "redelivered_at": _MAYBE_TIME,
            "created_at": _TIME,
        },
    },
}

PATHS: dict[str, Any] = {
    "/v1/webhooks": {
        "post": _op(
            "Register an alert webhook endpoint; its signing secret is shown in this answer only",
            {
                "201": _json(_ref("WebhookEndpointWithSecret")),
                "202": _json(_ref("WebhookEndpointWithSecret"), "accepted; not yet applied"),
            },
            "WebhookEndpointCreate",
        ),
        "get": _op(
            "The tenant's webhook endpoints",
            {
                "200": _json(
                    {
                        "type": "object",
                        "properties": {"webhooks": {"type": "array", "items": _ref("WebhookEndpoint")}},
                    }
                )
            },
        ),
    },
    "/v1/webhooks/{endpoint_id}": {
        "get": _op(
            "One webhook endpoint", {"200": _json(_ref("WebhookEndpoint")), "404": _ERROR}, parameters=[_ID]
        ),
        "patch": _op(
            "Change an endpoint's URL, event types or description, or disable or enable it",
            {
                "200": _json(_ref("WebhookEndpointWritten")),
                "202": _json(_ref("WebhookEndpointWritten"), "accepted; not yet applied"),
                "404": _ERROR,
            },
            "WebhookEndpointUpdate",
            parameters=[_ID],
        ),
        "delete": _op(
            "Delete an endpoint: nothing more is sent to it",
            {
                "200": _json(
                    {
                        "type": "object",
                        "properties": {
                            "endpoint_id": {"type": "string"},
                            "deleted": {"type": "boolean"},
                            "status": _STATUS,
                        },
                    }
                ),
                "202": _json({"type": "object"}, "accepted; not yet applied"),
                "404": _ERROR,
            },
            parameters=[_ID],
        ),
    },
    "/v1/webhooks/{endpoint_id}/rotate-secret": {
        "post": _op(
            "A new signing secret, shown in this answer only; the old one signs nothing more",
            {
                "200": _json(_ref("WebhookEndpointWithSecret")),
                "202": _json(_ref("WebhookEndpointWithSecret"), "accepted; not yet applied"),
                "404": _ERROR,
            },
            parameters=[_ID],
        )
    },
    "/v1/webhooks/{endpoint_id}/deliveries": {
        "get": _op(
            "The endpoint's delivery log, newest first",
            {
                "200": _json(
                    {
                        "type": "object",
                        "properties": {
                            "deliveries": {"type": "array", "items": _ref("WebhookDelivery")},
                            "next_cursor": {"type": ["string", "null"]},
                        },
                    }
                ),
                "404": _ERROR,
            },
            parameters=[_ID, *_PAGE],
        )
    },
    "/v1/webhooks/{endpoint_id}/deliveries/{delivery_id}/redeliver": {
        "post": _op(
            "Send a delivery again, with the same webhook-id, retried for another day if it fails",
            {
                "200": _json(
                    {
                        "type": "object",
                        "properties": {
                            "delivery_id": {"type": "string"},
                            "endpoint_id": {"type": "string"},
                            "redelivered_at": _TIME,
                            "status": _STATUS,
                        },
                    }
                ),
                "202": _json({"type": "object"}, "accepted; not yet applied"),
                "404": _ERROR,
            },
            parameters=[_ID, _DELIVERY_ID],
        )
    },
}
