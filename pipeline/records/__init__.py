"""Immutable records: the past-tense facts that travel through Kafka. Each names its Avro schema.

Grouped by the part of the product they belong to; every record type is importable from here.
"""

from __future__ import annotations

from typing import get_args

from pipeline.records.admin import (
    ApiKeyIssued,
    ApiKeyRevoked,
    AssistantBranding,
    AssistantChanged,
    AssistantTool,
    AssistantVoice,
    AuditRecorded,
    TenantCreated,
    UserCreated,
    UserPasswordChanged,
)
from pipeline.records.billing import (
    BalanceThresholdCrossed,
    BurnRule,
    BurnTablePublished,
    CreditsExpired,
    CreditsGranted,
    CustomerUpdated,
    EntitlementSet,
    GrantVoided,
    HoldReleased,
    HoldRequested,
    Properties,
    PropertyValue,
    UsageBatch,
    UsageCorrected,
    UsageRecorded,
    Watermark,
)
from pipeline.records.chat import ChatMessageRecorded
from pipeline.records.dead_letters import DeadLetter, DeadLetterReplayed, Header
from pipeline.records.voice import CallEventRecorded, VoiceProviderSet
from pipeline.records.webhooks import WebhookEndpointChanged, WebhookRedeliveryRequested

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
    | UserCreated
    | UserPasswordChanged
    | CallEventRecorded
    | VoiceProviderSet
    | UsageBatch
    | WebhookEndpointChanged
    | WebhookRedeliveryRequested
)

# Every type a record may have, in the union's order (the codec maps schemas to them).
RECORD_TYPES: tuple[type[Record], ...] = get_args(Record)

__all__ = [
    "RECORD_TYPES",
    "ApiKeyIssued",
    "ApiKeyRevoked",
    "AssistantBranding",
    "AssistantChanged",
    "AssistantTool",
    "AssistantVoice",
    "AuditRecorded",
    "BalanceThresholdCrossed",
    "BurnRule",
    "BurnTablePublished",
    "CallEventRecorded",
    "ChatMessageRecorded",
    "CreditsExpired",
    "CreditsGranted",
    "CustomerUpdated",
    "DeadLetter",
    "DeadLetterReplayed",
    "EntitlementSet",
    "GrantVoided",
    "Header",
    "HoldReleased",
    "HoldRequested",
    "Properties",
    "PropertyValue",
    "Record",
    "TenantCreated",
    "UsageBatch",
    "UsageCorrected",
    "UsageRecorded",
    "UserCreated",
    "UserPasswordChanged",
    "VoiceProviderSet",
    "Watermark",
    "WebhookEndpointChanged",
    "WebhookRedeliveryRequested",
]
