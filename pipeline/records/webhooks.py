"""A tenant's alert webhook endpoints on `revos.admin` (keyed by tenant)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import ClassVar


@dataclass(frozen=True, slots=True)
class WebhookEndpointChanged:
    """An endpoint as it stands after a write (`action`: created, updated, secret_rotated, disabled,
    deleted); its signing secret sealed by the gateway, never shown again."""

    SCHEMA: ClassVar[str] = "revos.WebhookEndpointChanged"

    event_id: str
    tenant_id: str
    endpoint_id: str
    action: str
    url: str
    event_types: list[str]
    enabled: bool
    secret: str = field(repr=False)  # sealed (pipeline/assistants/tool_secrets.py)
    actor: str
    occurred_at: datetime
    description: str | None = None
    disabled_reason: str | None = None


@dataclass(frozen=True, slots=True)
class WebhookRedeliveryRequested:
    """A tenant asked for one delivery of an endpoint to be sent again (same `webhook-id`)."""

    SCHEMA: ClassVar[str] = "revos.WebhookRedeliveryRequested"

    event_id: str
    tenant_id: str
    endpoint_id: str
    delivery_id: str
    actor: str
    occurred_at: datetime
