"""Immutable records: the past-tense facts that travel through Kafka. Each names its Avro schema."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import ClassVar

PropertyValue = str | bool | int | float
Properties = dict[str, PropertyValue]


@dataclass(frozen=True, slots=True)
class UsageRecorded:
    """A customer used something; `event_id` is the tenant-wide idempotency key."""

    SCHEMA: ClassVar[str] = "revos.UsageRecorded"

    event_id: str
    tenant_id: str
    customer: str
    type: str
    timestamp: datetime
    quantity: Decimal
    properties: Properties = field(default_factory=dict)
    received_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class CreditsGranted:
    """Credits granted to a customer; `grant_id` is the idempotency key within the tenant."""

    SCHEMA: ClassVar[str] = "revos.CreditsGranted"

    event_id: str
    tenant_id: str
    customer: str
    grant_id: str
    amount: Decimal
    priority: int
    effective_at: datetime
    expires_at: datetime | None
    reason: str | None
    actor: str
    occurred_at: datetime


@dataclass(frozen=True, slots=True)
class BurnRule:
    """Credits (and optionally cost) per unit of one event type, for events whose properties match."""

    type: str
    credits_per_unit: Decimal
    match: Properties = field(default_factory=dict)
    cost_per_unit: Decimal | None = None


@dataclass(frozen=True, slots=True)
class BurnTablePublished:
    """A burn-table version; it prices usage whose event time is at or after `effective_at`."""

    SCHEMA: ClassVar[str] = "revos.BurnTablePublished"

    event_id: str
    tenant_id: str
    name: str
    version: int
    effective_at: datetime
    rules: tuple[BurnRule, ...]
    actor: str
    occurred_at: datetime


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
class Header:
    key: str
    value: bytes


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A record a stage could not process, with what is needed to inspect and replay it."""

    SCHEMA: ClassVar[str] = "revos.DeadLetter"

    dead_letter_id: str
    stage: str
    code: str
    error_class: str
    message: str
    value: bytes
    first_failed_at: datetime
    last_failed_at: datetime
    app_version: str
    stack: str = ""
    tenant_id: str | None = None
    event_id: str | None = None
    source_topic: str | None = None
    source_partition: int | None = None
    source_offset: int | None = None
    source_timestamp: datetime | None = None
    key: bytes | None = None
    headers: tuple[Header, ...] = ()
    attempts: int = 1
    replay_count: int = 0
    schema_fingerprint: str | None = None


@dataclass(frozen=True, slots=True)
class DeadLetterReplayed:
    """A dead letter's original record was produced again to its source topic."""

    SCHEMA: ClassVar[str] = "revos.DeadLetterReplayed"

    dead_letter_id: str
    target_topic: str
    actor: str
    occurred_at: datetime


@dataclass(frozen=True, slots=True)
class CustomerUpdated:
    """A customer's settings, whole: its burn table, credit limit and metadata."""

    SCHEMA: ClassVar[str] = "revos.CustomerUpdated"

    event_id: str
    tenant_id: str
    customer: str
    burn_table: str
    credit_limit: Decimal
    metadata: dict[str, str]
    actor: str
    occurred_at: datetime
    alert_thresholds: list[str] = field(default_factory=list)  # decimal strings, highest first


@dataclass(frozen=True, slots=True)
class CreditsExpired:
    """A grant reached `expires_at`; produced on time by the pipeline, its id derived from the grant."""

    SCHEMA: ClassVar[str] = "revos.CreditsExpired"

    event_id: str
    tenant_id: str
    customer: str
    grant_id: str
    expires_at: datetime
    occurred_at: datetime


@dataclass(frozen=True, slots=True)
class GrantVoided:
    """The unspent part of a grant was voided."""

    SCHEMA: ClassVar[str] = "revos.GrantVoided"

    event_id: str
    tenant_id: str
    customer: str
    grant_id: str
    reason: str | None
    actor: str
    occurred_at: datetime


@dataclass(frozen=True, slots=True)
class UsageCorrected:
    """A charged usage event was voided or amended (quantity and/or properties replaced, re-priced)."""

    SCHEMA: ClassVar[str] = "revos.UsageCorrected"

    event_id: str
    tenant_id: str
    customer: str
    target_event_id: str
    action: str  # "void" | "amend"
    quantity: Decimal | None
    properties: Properties | None
    reason: str | None
    actor: str
    occurred_at: datetime


@dataclass(frozen=True, slots=True)
class EntitlementSet:
    """A customer's entitlement to a feature, whole (see the schema for which fields each kind uses)."""

    SCHEMA: ClassVar[str] = "revos.EntitlementSet"

    event_id: str
    tenant_id: str
    customer: str
    feature: str
    kind: str  # "boolean" | "limit" | "metered"
    enabled: bool | None
    limit: Decimal | None
    event_type: str | None
    match: Properties
    allowance: Decimal | None
    period: str | None  # "day" | "month"
    actor: str
    occurred_at: datetime


@dataclass(frozen=True, slots=True)
class Watermark:
    """A clock tick on one partition: applying it means everything accepted before `emitted_at` is applied."""

    SCHEMA: ClassVar[str] = "revos.Watermark"

    emitted_at: datetime


@dataclass(frozen=True, slots=True)
class BalanceThresholdCrossed:
    """`balance.threshold_crossed`: a balance fell to or below an alert threshold."""

    SCHEMA: ClassVar[str] = "revos.BalanceThresholdCrossed"

    alert_id: str
    tenant_id: str
    customer: str
    threshold: Decimal
    balance: Decimal
    ledger_seq: int
    occurred_at: datetime


@dataclass(frozen=True, slots=True)
class HoldRequested:
    """A short-lived reservation of credits; the billing fold places or denies it in log order."""

    SCHEMA: ClassVar[str] = "revos.HoldRequested"

    hold_id: str
    tenant_id: str
    customer: str
    credits: Decimal
    expires_at: datetime
    event_id: str | None  # the usage event that will use it: charging that event ends the hold
    actor: str
    occurred_at: datetime


@dataclass(frozen=True, slots=True)
class HoldReleased:
    """A hold was released before it was used or expired."""

    SCHEMA: ClassVar[str] = "revos.HoldReleased"

    hold_id: str
    tenant_id: str
    customer: str
    actor: str
    occurred_at: datetime


@dataclass(frozen=True, slots=True)
class AssistantTool:
    """An HTTP tool an assistant may call: the gateway POSTs the arguments, signed with `secret`."""

    name: str
    description: str
    parameters: str  # JSON Schema of the arguments, as JSON text
    url: str
    secret: str
    timeout_seconds: float = 10.0


@dataclass(frozen=True, slots=True)
class AssistantBranding:
    logo_url: str | None = None
    primary_color: str | None = None
    title: str | None = None
    greeting: str | None = None
    suggestions: list[str] = field(default_factory=list)


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


@dataclass(frozen=True, slots=True)
class ChatMessageRecorded:
    """One message of a conversation: `seq` is its position, `message_id` is `conversation_id:seq`."""

    SCHEMA: ClassVar[str] = "revos.ChatMessageRecorded"

    message_id: str
    tenant_id: str
    agent_id: str
    conversation_id: str
    seq: int
    role: str  # "user" | "assistant" | "tool"
    content: str
    status: str  # "complete" | "interrupted" | "failed" | "unavailable"
    occurred_at: datetime
    client_message_id: str | None = None
    reply_to: int | None = None
    model: str | None = None
    latency_ms: int | None = None
    first_token_ms: int | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    tool_calls: str | None = None  # JSON text
    tool_name: str | None = None
    tool_call_id: str | None = None
    visitor_id: str | None = None
    origin: str | None = None
    customer: str | None = None  # the billing customer of a reply's tokens (schema v2)


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


Record = (
    UsageRecorded
    | CreditsGranted
    | BurnTablePublished
    | TenantCreated
    | ApiKeyIssued
    | ApiKeyRevoked
    | DeadLetter
    | DeadLetterReplayed
    | AuditRecorded
    | CustomerUpdated
    | CreditsExpired
    | GrantVoided
    | UsageCorrected
    | EntitlementSet
    | Watermark
    | BalanceThresholdCrossed
    | HoldRequested
    | HoldReleased
    | AssistantChanged
    | ChatMessageRecorded
)

RECORD_TYPES: tuple[type[Record], ...] = (
    UsageRecorded,
    CreditsGranted,
    BurnTablePublished,
    TenantCreated,
    ApiKeyIssued,
    ApiKeyRevoked,
    DeadLetter,
    DeadLetterReplayed,
    AuditRecorded,
    CustomerUpdated,
    CreditsExpired,
    GrantVoided,
    UsageCorrected,
    EntitlementSet,
    Watermark,
    BalanceThresholdCrossed,
    HoldRequested,
    HoldReleased,
    AssistantChanged,
    ChatMessageRecorded,
)
