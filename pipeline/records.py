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
    | DeadLetter
    | DeadLetterReplayed
    | AuditRecorded
    | CustomerUpdated
)

RECORD_TYPES: tuple[type[Record], ...] = (
    UsageRecorded,
    CreditsGranted,
    BurnTablePublished,
    TenantCreated,
    ApiKeyIssued,
    DeadLetter,
    DeadLetterReplayed,
    AuditRecorded,
    CustomerUpdated,
)
