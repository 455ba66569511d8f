"""A tenant's webhook endpoints: the event types there are, and API input into an endpoint's fields.

An endpoint receives every event of the types it names (Standard Webhooks: `webhook-id`,
`webhook-timestamp`, `webhook-signature`), signed with its own `whsec_` secret, shown once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pipeline.assistants import fields
from pipeline.errors import ValidationError
from pipeline.voice.summary import ENDED, FAILED, STARTED

BALANCE_THRESHOLD_CROSSED = "balance.threshold_crossed"
GRANT_EXPIRED = "grant.expired"
DEAD_LETTER_CREATED = "dead_letter.created"
# The call events name themselves as the voice status webhooks do.
EVENT_TYPES: tuple[str, ...] = (
    BALANCE_THRESHOLD_CROSSED,
    GRANT_EXPIRED,
    DEAD_LETTER_CREATED,
    STARTED,
    ENDED,
    FAILED,
)
MAX_DESCRIPTION = 500
CREATE_FIELDS = frozenset({"url", "event_types", "description"})
UPDATE_FIELDS = frozenset({"url", "event_types", "description", "enabled"})


def _invalid(message: str, field: str) -> ValidationError:
    return ValidationError(message, code="invalid_webhook", field=field)


@dataclass(frozen=True, slots=True)
class EndpointFields:
    """What a tenant says about an endpoint; None: not given (an update keeps the current value)."""

    url: str | None = None
    event_types: tuple[str, ...] | None = None
    description: str | None = None
    description_given: bool = False
    enabled: bool | None = None


def _url(raw: object) -> str:
    try:
        return fields.http_url(raw, "url", at="url")
    except ValidationError as exc:
        raise _invalid(exc.message, "url") from exc


def _event_types(raw: object) -> tuple[str, ...]:
    if not isinstance(raw, list) or not raw or not all(isinstance(t, str) for t in raw):
        raise _invalid("event_types must be a non-empty list of event type names", "event_types")
    unknown = sorted({t for t in raw if t not in EVENT_TYPES})
    if unknown:
        raise ValidationError(
            f"unknown event type(s): {', '.join(unknown)}; known: {', '.join(EVENT_TYPES)}",
            code="unknown_event_type",
            field="event_types",
        )
    return tuple(t for t in EVENT_TYPES if t in raw)  # one order, no repeats


def _description(raw: object) -> str | None:
    if raw is None:
        return None
    if not isinstance(raw, str) or len(raw) > MAX_DESCRIPTION:
        raise _invalid(f"description must be text of at most {MAX_DESCRIPTION} characters", "description")
    return raw


def _object(raw: object, allowed: frozenset[str]) -> Mapping[str, Any]:
    if not isinstance(raw, dict):
        raise ValidationError("the body must be a JSON object", code="invalid_type")
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise ValidationError(
            f"unknown field(s): {', '.join(unknown)}", code="unknown_field", field=unknown[0]
        )
    return raw


def creation(raw: object) -> EndpointFields:
    """A new endpoint's fields: `url` and `event_types` required, `description` optional."""
    body = _object(raw, CREATE_FIELDS)
    return EndpointFields(
        url=_url(body.get("url")),
        event_types=_event_types(body.get("event_types")),
        description=_description(body.get("description")),
        description_given=True,
        enabled=True,
    )


def change(raw: object) -> EndpointFields:
    """The fields an update names; at least one."""
    body = _object(raw, UPDATE_FIELDS)
    if not body:
        raise _invalid("name at least one of url, event_types, description, enabled", "body")
    enabled = body.get("enabled")
    if "enabled" in body and not isinstance(enabled, bool):
        raise _invalid("enabled must be true or false", "enabled")
    return EndpointFields(
        url=_url(body["url"]) if "url" in body else None,
        event_types=_event_types(body["event_types"]) if "event_types" in body else None,
        description=_description(body.get("description")),
        description_given="description" in body,
        enabled=enabled if isinstance(enabled, bool) else None,
    )


def secret_context(tenant_id: str, endpoint_id: str) -> str:
    """What an endpoint's sealed secret is bound to: it cannot be moved to another endpoint or tenant."""
    return f"{tenant_id}/webhooks/{endpoint_id}"
