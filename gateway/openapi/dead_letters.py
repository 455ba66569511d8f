"""OpenAPI schemas and paths of a tenant's own dead letters: list, show, replay (or a dry run of it)."""

from __future__ import annotations

from typing import Any

from gateway.openapi.fragments import _DECIMAL, _ERROR, _PAGE, _TIME, _json, _op, _ref

_ID = {"name": "dead_letter_id", "in": "path", "required": True, "schema": {"type": "string"}}
_MAYBE_TIME = {**_TIME, "type": ["string", "null"]}
_MAYBE_TEXT = {"type": ["string", "null"]}
_COMMON = {
    "dead_letter_id": {"type": "string"},
    "stage": {
        "type": "string",
        "description": "where it was refused: gateway.ingest (the API) or billing.charge (while charging)",
    },
    "code": {"type": "string", "description": "why, e.g. unpriced, negative_decimal"},
    "message": {"type": "string"},
    "event_id": _MAYBE_TEXT,
    "attempts": {"type": "integer"},
    "replay_count": {
        "type": "integer",
        "description": "how many replays its record had already been through",
    },
    "replays": {"type": "integer", "description": "how many times it was replayed"},
    "first_failed_at": _TIME,
    "last_failed_at": _TIME,
    "last_replayed_at": _MAYBE_TIME,
}

SCHEMAS: dict[str, Any] = {
    "DeadLetterSummary": {"type": "object", "properties": _COMMON},
    "DeadLetter": {
        "type": "object",
        "properties": {
            **_COMMON,
            "error_class": {"type": "string"},
            "source": {
                "type": ["object", "null"],
                "description": "the record's place in its topic; null when refused at the API",
                "properties": {
                    "topic": {"type": "string"},
                    "partition": {"type": "integer"},
                    "offset": {"type": "integer"},
                    "timestamp": _MAYBE_TIME,
                },
            },
            "key": _MAYBE_TEXT,
            "value": {
                "type": "object",
                "description": "json: what the client sent; avro: the record it held; bytes: neither",
                "properties": {
                    "format": {"enum": ["json", "avro", "bytes"]},
                    "record_type": _MAYBE_TEXT,
                    "decoded": {},
                    "size": {"type": "integer"},
                    "text": {"type": "string", "description": "bytes only: the value as text"},
                },
            },
            "headers": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"key": {"type": "string"}, "value": {"type": "string"}},
                },
            },
            "app_version": {"type": "string"},
        },
    },
    "Replay": {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "dry_run": {
                "type": "boolean",
                "default": False,
                "description": "true: only say what would be sent and whether it would pass",
            }
        },
    },
    "ReplayAnswer": {
        "type": "object",
        "properties": {
            "dead_letter_id": {"type": "string"},
            "dry_run": {"type": "boolean"},
            "publish": {
                "type": ["object", "null"],
                "description": "what is (or would be) sent; null when it would be refused at once",
                "properties": {
                    "topic": {"type": "string"},
                    "key": _MAYBE_TEXT,
                    "record_type": _MAYBE_TEXT,
                    "record": {},
                },
            },
            "check": {
                "type": "object",
                "description": "whether it would now pass: true, false (with the code it would be refused "
                "with), or null when that is known only once it is applied",
                "properties": {
                    "passes": {"type": ["boolean", "null"]},
                    "code": _MAYBE_TEXT,
                    "message": {"type": "string"},
                    "price": {
                        "type": ["object", "null"],
                        "properties": {
                            "credits": _DECIMAL,
                            "cost": {**_DECIMAL, "type": ["string", "null"]},
                            "burn_table": {"type": "string"},
                            "version": {"type": "integer"},
                            "rule_index": {"type": "integer"},
                        },
                    },
                },
            },
            "would_replay": {"type": "boolean", "description": "dry run only"},
            "refusal": {
                "type": ["object", "null"],
                "description": "dry run only: why it would be refused (already_replayed, replay_limit_reached)",
                "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
            },
            "status": {"enum": ["applied", "pending"], "description": "replay only"},
        },
    },
}

PATHS: dict[str, Any] = {
    "/v1/dead-letters": {
        "get": _op(
            "The tenant's dead letters (its refused events), newest first, with counts by code",
            {
                "200": _json(
                    {
                        "type": "object",
                        "properties": {
                            "dead_letters": {"type": "array", "items": _ref("DeadLetterSummary")},
                            "counts": {
                                "type": "object",
                                "additionalProperties": {"type": "integer"},
                                "description": "code: how many (with the stage filter, whatever the code)",
                            },
                            "next_cursor": {"type": ["string", "null"]},
                        },
                    }
                )
            },
            parameters=[
                {"name": "code", "in": "query", "schema": {"type": "string"}},
                {"name": "stage", "in": "query", "schema": {"type": "string"}},
                *_PAGE,
            ],
        )
    },
    "/v1/dead-letters/{dead_letter_id}": {
        "get": _op(
            "One dead letter: why, its record decoded where possible, headers and times",
            {"200": _json(_ref("DeadLetter")), "404": _ERROR},
            parameters=[_ID],
        )
    },
    "/v1/dead-letters/{dead_letter_id}/replay": {
        "post": _op(
            "Send a dead letter's record again (audited as dead_letter.replay), or a dry run of it",
            {
                "200": _json(_ref("ReplayAnswer")),
                "202": _json(_ref("ReplayAnswer"), "sent; the replay is not yet recorded"),
                "404": _ERROR,
                "409": {**_ERROR, "description": "already_replayed, replay_limit_reached"},
                "422": {**_ERROR, "description": "it would be refused again: the code it would get"},
            },
            requestBody={"required": False, "content": {"application/json": {"schema": _ref("Replay")}}},
            parameters=[_ID],
        )
    },
}
