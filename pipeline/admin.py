"""Admin actions as records: creating a tenant and issuing its first API key."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pipeline import keys
from pipeline.records import ApiKeyIssued, TenantCreated
from pipeline.validation import new_event_id


@dataclass(frozen=True, slots=True)
class TenantWithKey:
    tenant: TenantCreated
    key: ApiKeyIssued
    secret: str


def create_tenant(name: str, *, actor: str, now: datetime) -> TenantWithKey:
    """The records that create a tenant with one key; the secret is returned once and never recorded."""
    name = name.strip()
    if not name or len(name) > 200 or "\x00" in name:
        from pipeline.errors import ValidationError

        raise ValidationError("tenant name must be 1 to 200 characters", code="invalid_name", field="name")
    tenant_id = keys.new_tenant_id()
    key = keys.new_key()
    return TenantWithKey(
        tenant=TenantCreated(new_event_id(), tenant_id, name, actor, now),
        key=ApiKeyIssued(new_event_id(), tenant_id, key.key_id, key.prefix, key.key_hash, actor, now),
        secret=key.secret,
    )
