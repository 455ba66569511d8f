"""Admin actions on `revos.admin` (tenants, API keys, dashboard users, chat assistants) and the audit trail of every admin write."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import ClassVar


@dataclass(frozen=True, slots=True)
class TenantCreated:
    """A tenant, the isolation boundary, was created."""

    SCHEMA: ClassVar[str] = "revos.TenantCreated"

    event_id: str
    tenant_id: str
    name: str
    actor: str
    occurred_at: datetime


@dataclass(frozen=True, slots=True)
class ApiKeyIssued:
    """An API key was issued; only its hash and display prefix are ever recorded."""

    SCHEMA: ClassVar[str] = "revos.ApiKeyIssued"

    event_id: str
    tenant_id: str
    key_id: str
    prefix: str
    key_hash: str
    actor: str
    occurred_at: datetime
    scope: str = "admin"  # what the key may do (pipeline/admin/keys.py); keys issued before scopes are admin


@dataclass(frozen=True, slots=True)
class ApiKeyRevoked:
    """An API key stops working at `revoke_at` (now, or after a rotation's grace); the earliest wins."""

    SCHEMA: ClassVar[str] = "revos.ApiKeyRevoked"

    event_id: str
    tenant_id: str
    key_id: str
    revoke_at: datetime
    actor: str
    occurred_at: datetime


@dataclass(frozen=True, slots=True)
class UserCreated:
    """A person who may sign in to the tenant's dashboard; only the argon2id hash of the password is recorded."""

    SCHEMA: ClassVar[str] = "revos.UserCreated"

    event_id: str
    tenant_id: str
    user_id: str
    email: str
    password_hash: str = field(repr=False)
    actor: str
    occurred_at: datetime


@dataclass(frozen=True, slots=True)
class UserPasswordChanged:
    """A dashboard user's password was changed (by the user, or reset by an operator)."""

    SCHEMA: ClassVar[str] = "revos.UserPasswordChanged"

    event_id: str
    tenant_id: str
    user_id: str
    password_hash: str = field(repr=False)
    actor: str
    occurred_at: datetime


@dataclass(frozen=True, slots=True)
class AssistantTool:
    """An HTTP tool an assistant may call: the gateway POSTs the arguments, signed with `secret`."""

    name: str
    description: str
    parameters: str  # JSON Schema of the arguments, as JSON text
    url: str
    secret: str = field(
        repr=False
    )  # sealed by the gateway (pipeline/assistants/tool_secrets.py); never logged
    timeout_seconds: float = 10.0


@dataclass(frozen=True, slots=True)
class AssistantBranding:
    logo_url: str | None = None
    primary_color: str | None = None
    title: str | None = None
    greeting: str | None = None
    suggestions: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class AssistantVoice:
    """An assistant's phone line: its number and how calls to it sound (pipeline/voice/config.py)."""

    phone_number: str  # E.164; one agent per number across all tenants
    language: str = "en-US"
    tts_provider: str = "ElevenLabs"
    voice: str | None = None
    transcription_provider: str = "Deepgram"
    welcome_greeting: str | None = None
    interruptible: bool = True
    max_call_seconds: int = 600
    status_webhook_url: str | None = None
    status_webhook_secret: str | None = field(default=None, repr=False)  # sealed; signs status webhooks


@dataclass(frozen=True, slots=True)
class AssistantChanged:
    """A tenant's AI assistant ("agent" in the API) was created, updated or deleted; whole config."""

    SCHEMA: ClassVar[str] = "revos.AssistantChanged"

    event_id: str
    tenant_id: str
    agent_id: str
    action: str  # "created" | "updated" | "deleted"
    name: str
    system_prompt: str
    model: str
    fallback_models: list[str]
    temperature: float | None
    tools: tuple[AssistantTool, ...]
    allowed_domains: list[str]
    branding: AssistantBranding
    customer: str  # the billing customer its token usage is charged to
    template: str | None
    actor: str
    occurred_at: datetime
    voice: AssistantVoice | None = None  # its phone line (schema v2); None: no phone line


@dataclass(frozen=True, slots=True)
class AuditRecorded:
    """Who changed what admin state, when; `before` and `after` are JSON text (None: did not exist)."""

    SCHEMA: ClassVar[str] = "revos.AuditRecorded"

    audit_id: str
    tenant_id: str
    actor: str
    action: str
    target: str
    before: str | None
    after: str | None
    request_id: str | None
    occurred_at: datetime
