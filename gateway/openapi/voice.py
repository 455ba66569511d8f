"""OpenAPI schemas and paths of voice: the tenant's Twilio account, Twilio's webhooks, and calls."""

from __future__ import annotations

from typing import Any

from gateway.openapi.fragments import (
    _ERROR,
    _EXPORT_CONTENT,
    _EXPORT_FORMAT,
    _PAGE,
    _TIME,
    _errors,
    _json,
    _op,
    _ref,
)
from pipeline.voice import calls
from pipeline.voice.config import MAX_CALL_SECONDS, MIN_CALL_SECONDS, TRANSCRIPTION_PROVIDERS, TTS_PROVIDERS

_NULLABLE_TEXT = {"type": ["string", "null"]}
_NULLABLE_INT = {"type": ["integer", "null"]}
_TWIML = {"description": "TwiML", "content": {"text/xml": {"schema": {"type": "string"}}}}
_CALL_FILTERS = [
    {"name": "agent_id", "in": "query", "schema": {"type": "string"}},
    {"name": "state", "in": "query", "schema": {"enum": list(calls.STATES)}},
    {"name": "since", "in": "query", "schema": _TIME, "description": "inclusive, by start"},
    {"name": "until", "in": "query", "schema": _TIME, "description": "exclusive, by start"},
    {
        "name": "failed",
        "in": "query",
        "schema": {"enum": ["true", "false"]},
        "description": "true: only the calls that ended without the caller or the agent meaning them to, or "
        "never got to talk (dropped, provider_down, failed, busy, no_answer, canceled, "
        "out_of_credits, agent_unavailable)",
    },
]

SCHEMAS: dict[str, Any] = {
    "AgentVoice": {
        "type": ["object", "null"],
        "additionalProperties": False,
        "required": ["phone_number"],
        "description": "The agent's phone line; the whole object is replaced by each write, null removes it",
        "properties": {
            "phone_number": {
                "type": "string",
                "pattern": r"^\+[1-9][0-9]{6,14}$",
                "description": "E.164; at most one agent of all tenants has a number (409 phone_number_taken)",
            },
            "language": {"type": "string", "default": "en-US"},
            "tts_provider": {"enum": list(TTS_PROVIDERS), "default": "ElevenLabs"},
            "voice": _NULLABLE_TEXT,
            "transcription_provider": {"enum": list(TRANSCRIPTION_PROVIDERS), "default": "Deepgram"},
            "welcome_greeting": _NULLABLE_TEXT,
            "interruptible": {"type": "boolean", "default": True},
            "max_call_seconds": {
                "type": "integer",
                "minimum": MIN_CALL_SECONDS,
                "maximum": MAX_CALL_SECONDS,
                "default": 600,
            },
            "status_webhook_url": {**_NULLABLE_TEXT, "format": "uri"},
            "status_webhook_secret_set": {"type": "boolean", "readOnly": True},
            "status_webhook_secret": {
                "type": "string",
                "readOnly": True,
                "description": "whsec_…: signs the status webhook (Standard Webhooks); shown once, in the "
                "answer to the write that gave the line its first status webhook URL",
            },
        },
    },
    "TwilioAccount": {
        "type": "object",
        "additionalProperties": False,
        "required": ["account_sid", "auth_token"],
        "properties": {
            "account_sid": {"type": "string", "pattern": "^AC[0-9a-fA-F]{32}$"},
            "auth_token": {"type": "string", "writeOnly": True, "description": "never returned"},
        },
    },
    "TwilioAccountShown": {
        "type": "object",
        "properties": {
            "provider": {"const": "twilio"},
            "account_sid": _NULLABLE_TEXT,
            "auth_token_set": {"type": "boolean"},
            "updated_at": {"type": ["string", "null"], "format": "date-time"},
            "status": {"enum": ["applied", "pending"], "description": "writes only"},
        },
    },
    "Call": {
        "type": "object",
        "properties": {
            "call_sid": {"type": "string"},
            "agent_id": {"type": "string"},
            "conversation_id": _NULLABLE_TEXT,
            "from_number": _NULLABLE_TEXT,
            "to_number": _NULLABLE_TEXT,
            "customer": _NULLABLE_TEXT,
            "state": {"enum": [*calls.STATES, None]},
            "state_at": {"type": ["string", "null"], "format": "date-time"},
            "started_at": _TIME,
            "answered_at": {"type": ["string", "null"], "format": "date-time"},
            "ended_at": {"type": ["string", "null"], "format": "date-time"},
            "duration_seconds": _NULLABLE_INT,
            "end_reason": {"enum": [*calls.END_REASONS, None]},
            "end_detail": _NULLABLE_TEXT,
        },
    },
    "CallEvent": {
        "type": "object",
        "properties": {
            "event_id": {"type": "string"},
            "kind": {
                "enum": [
                    "state",
                    "connected",
                    "interrupted",
                    "dtmf",
                    "ended",
                    "session_ended",
                    "relay_closed",
                    "error",
                ]
            },
            "state": _NULLABLE_TEXT,
            "occurred_at": _TIME,
            "end_reason": _NULLABLE_TEXT,
            "detail": _NULLABLE_TEXT,
            "reply_to": _NULLABLE_INT,
            "heard": _NULLABLE_TEXT,
            "heard_ms": _NULLABLE_INT,
            "duration_seconds": _NULLABLE_INT,
        },
    },
    "CallTurn": {
        "type": "object",
        "properties": {
            "seq": {"type": "integer"},
            "role": {"enum": ["user", "assistant", "tool"]},
            "content": {"type": "string"},
            "status": {"enum": ["complete", "interrupted", "failed", "unavailable"]},
            "reply_to": _NULLABLE_INT,
            "model": _NULLABLE_TEXT,
            "first_token_ms": _NULLABLE_INT,
            "input_tokens": _NULLABLE_INT,
            "output_tokens": _NULLABLE_INT,
            "tool_name": _NULLABLE_TEXT,
            "occurred_at": _TIME,
            "interrupted": {"type": "boolean", "description": "the caller spoke over this reply"},
            "heard": {**_NULLABLE_TEXT, "description": "what the caller heard of an interrupted reply"},
            "heard_ms": _NULLABLE_INT,
        },
    },
}


def _twilio(summary: str, responses: dict[str, Any]) -> dict[str, Any]:
    """A webhook Twilio calls: form-encoded, signed with X-Twilio-Signature instead of a key."""
    return _errors(
        {
            "summary": summary,
            "security": [],
            "parameters": [
                {"name": "X-Twilio-Signature", "in": "header", "schema": {"type": "string"}},
                {"name": "agent_id", "in": "query", "schema": {"type": "string"}},
            ],
            "requestBody": {
                "required": True,
                "content": {
                    "application/x-www-form-urlencoded": {
                        "schema": {
                            "type": "object",
                            "properties": {"CallSid": {"type": "string"}, "AccountSid": {"type": "string"}},
                            "additionalProperties": {"type": "string"},
                        }
                    }
                },
            },
            "responses": {**responses, "403": {**_ERROR, "description": "invalid_signature"}},
        },
        authenticated=False,
    )


PATHS: dict[str, Any] = {
    "/v1/voice/twilio": {
        "put": _op(
            "Set the tenant's Twilio account (its auth token validates Twilio's webhook signatures and is "
            "encrypted at rest; never returned)",
            {"200": _json(_ref("TwilioAccountShown")), "202": _json(_ref("TwilioAccountShown"))},
            body="TwilioAccount",
        ),
        "get": _op(
            "The tenant's Twilio account: its SID and whether a token is set",
            {"200": _json(_ref("TwilioAccountShown"))},
        ),
    },
    "/v1/voice/twilio/incoming": {
        "post": _twilio(
            "A phone number's voice URL: TwiML connecting the call to the agent's relay socket, or a short "
            "spoken message and a hang-up (unknown number, agent unavailable, customer out of credits)",
            {"200": _TWIML},
        )
    },
    "/v1/voice/twilio/ended": {
        "post": _twilio(
            "The relay session ended (Twilio's <Connect action> URL): TwiML hanging up", {"200": _TWIML}
        )
    },
    "/v1/voice/twilio/status": {
        "post": _twilio(
            "A call status callback; idempotent, and a call's state only moves forward",
            {"204": {"description": "recorded"}},
        )
    },
    "/v1/calls": {
        "get": _op(
            "Calls, newest first (by start), optionally of one agent, in one state, in a time range, or only "
            "the failed ones",
            {
                "200": _json(
                    {
                        "type": "object",
                        "properties": {
                            "calls": {"type": "array", "items": _ref("Call")},
                            "next_cursor": {"type": ["string", "null"]},
                        },
                    }
                )
            },
            parameters=[*_CALL_FILTERS, *_PAGE],
        )
    },
    "/v1/calls/export": {
        "get": _op(
            "The calls the filters select, newest first, streamed as CSV (with a header row), a JSON array or JSON lines",
            {
                "200": {
                    "description": "call_sid, agent_id, from_number, to_number, state, started_at, answered_at, "
                    "ended_at, duration_seconds, end_reason, end_detail, conversation_id per call",
                    "content": _EXPORT_CONTENT,
                }
            },
            parameters=[
                _EXPORT_FORMAT,
                *_CALL_FILTERS,
            ],
        )
    },
    "/v1/calls/{call_sid}": {
        "get": _op(
            "A call with its history (states, interruptions, digits, its end) and its transcript",
            {
                "200": _json(
                    {
                        "allOf": [
                            _ref("Call"),
                            {
                                "type": "object",
                                "properties": {
                                    "events": {"type": "array", "items": _ref("CallEvent")},
                                    "transcript": {"type": "array", "items": _ref("CallTurn")},
                                },
                            },
                        ]
                    }
                ),
                "404": _ERROR,
            },
            parameters=[{"name": "call_sid", "in": "path", "required": True, "schema": {"type": "string"}}],
        )
    },
}
