"""Admin actions as records: creating a tenant, issuing its API keys, revoking and rotating them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pipeline.admin import audit, keys
from pipeline.errors import ValidationError
from pipeline.records import ApiKeyIssued, ApiKeyRevoked, AuditRecorded, TenantCreated
from pipeline.validation import new_event_id, no_unknown

MAX_GRACE_SECONDS = 30 * 24 * 3600
ROTATION_GRACE_SECONDS = 24 * 3600  # how long a rotated key keeps working unless the request says
_GRACE_FIELDS = frozenset({"grace_seconds"})
_KEY_FIELDS = frozenset({"scope"})


@dataclass(frozen=True, slots=True)
class TenantWithKey:
    tenant: TenantCreated
    key: ApiKeyIssued
    secret: str


def create_tenant(name: str, *, actor: str, now: datetime) -> TenantWithKey:
    """The records that create a tenant with one key; the secret is returned once and never recorded."""
    name = name.strip()
    if not name or len(name) > 200 or "\x00" in name:
        raise ValidationError("tenant name must be 1 to 200 characters", code="invalid_name", field="name")
    tenant_id = keys.new_tenant_id()
    key = keys.new_key()
    return TenantWithKey(
        tenant=TenantCreated(new_event_id(), tenant_id, name, actor, now),
        key=ApiKeyIssued(new_event_id(), tenant_id, key.key_id, key.prefix, key.key_hash, actor, now),
        secret=key.secret,
    )


@dataclass(frozen=True, slots=True)
class IssuedKey:
    record: ApiKeyIssued
    secret: str


def issue_key(tenant_id: str, *, actor: str, now: datetime, scope: str = keys.ADMIN) -> IssuedKey:
    """A new key of the tenant; the secret is returned once and never recorded."""
    if scope not in keys.SCOPES:
        raise ValueError(f"unknown key scope {scope!r}")
    key = keys.new_key()
    return IssuedKey(
        ApiKeyIssued(new_event_id(), tenant_id, key.key_id, key.prefix, key.key_hash, actor, now, scope),
        key.secret,
    )


def key_scope(body: object) -> str:
    """`{"scope"?}`: the scope of a key to issue, `admin` unless the request says `ingest`."""
    fields = _object(body, "key")
    no_unknown(fields, _KEY_FIELDS, "key")
    scope = fields.get("scope", keys.ADMIN)
    if scope not in keys.SCOPES:
        raise ValidationError(
            f"scope must be one of {', '.join(keys.SCOPES)}", code="invalid_scope", field="scope"
        )
    return str(scope)


def _object(body: object, what: str) -> dict[str, Any]:
    """A request body that must be a JSON object; None (no body) reads as `{}`."""
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise ValidationError(f"the {what} body must be a JSON object", code="invalid_type")
    return body


def no_fields(body: object, what: str) -> None:
    """A request that takes no fields: an empty body or `{}`."""
    no_unknown(_object(body, what), frozenset(), what)


def grace(body: object, default: int) -> timedelta:
    """`{"grace_seconds"?}`: how long a revoked key keeps working, 0 to 30 days."""
    fields = _object(body, "revocation")
    no_unknown(fields, _GRACE_FIELDS, "revocation")
    raw = fields.get("grace_seconds", default)
    if isinstance(raw, bool) or not isinstance(raw, int) or not 0 <= raw <= MAX_GRACE_SECONDS:
        raise ValidationError(
            f"grace_seconds must be a whole number from 0 to {MAX_GRACE_SECONDS}",
            code="invalid_grace_seconds",
            field="grace_seconds",
        )
    return timedelta(seconds=raw)


def revoke_key(tenant_id: str, key_id: str, *, after: timedelta, actor: str, now: datetime) -> ApiKeyRevoked:
    return ApiKeyRevoked(new_event_id(), tenant_id, key_id, now + after, actor, now)


def issued_trail(key: ApiKeyIssued, request_id: str | None) -> AuditRecorded:
    """The audit entry of an issued key: its id and display prefix, never the key."""
    return audit.record(
        tenant_id=key.tenant_id, actor=key.actor, action="api_key.issue", target=f"api_key:{key.key_id}",
        before=None, after={"key_id": key.key_id, "prefix": key.prefix, "scope": key.scope}, request_id=request_id,
        now=key.occurred_at,
    )  # fmt: skip


def revoked_trail(revoked: ApiKeyRevoked, before: datetime | None, request_id: str | None) -> AuditRecorded:
    """The audit entry of a revocation: when the key was to stop working before, and when it does now."""
    return audit.record(
        tenant_id=revoked.tenant_id, actor=revoked.actor, action="api_key.revoke",
        target=f"api_key:{revoked.key_id}", before={"revoked_at": before}, after={"revoked_at": revoked.revoke_at},
        request_id=request_id, now=revoked.occurred_at,
    )  # fmt: skip


def refused_trail(revoked: ApiKeyRevoked, request_id: str | None) -> AuditRecorded:
    """The audit entry that undoes a revocation's entry when the admin writer refused it (it would have
    taken the tenant's last admin key): the key still works as before."""
    return audit.record(
        tenant_id=revoked.tenant_id, actor=revoked.actor, action="api_key.revoke_refused",
        target=f"api_key:{revoked.key_id}", before={"revoked_at": revoked.revoke_at}, after={"revoked_at": None},
        request_id=request_id, now=revoked.occurred_at,
    )  # fmt: skip
