"""Usage, credits, burn tables, customers, entitlements, holds and watermarks: the records folded per balance on `revos.billing` (and the alerts it derives)."""

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
class UsageBatch:
    """Usage events accepted together for one billing partition: one record on the log instead of one per
    event, so per-record costs are paid once per batch. Each event is still deduplicated, priced, charged
    and, when refused, dead-lettered alone (as a `UsageRecorded` of its own)."""

    SCHEMA: ClassVar[str] = "revos.UsageBatch"

    batch_id: str
    tenant_id: str
    events: tuple[UsageRecorded, ...]  # every one of this tenant, received at `received_at`
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
