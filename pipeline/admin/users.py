"""Dashboard users: the rules for sign-up and passwords, and the records that create a user or change a
password. Hashing is the caller's (it is slow on purpose, and not the core's to schedule); only the hash
is ever recorded, and audit entries never carry it."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime

from pipeline.admin import audit
from pipeline.admin.actions import create_tenant
from pipeline.errors import ValidationError
from pipeline.records import AuditRecorded, TenantCreated, UserCreated, UserPasswordChanged
from pipeline.validation import new_event_id

MIN_PASSWORD = 10
MAX_PASSWORD = 1024  # argon2 takes any length; a bound keeps a login request's cost bounded
MAX_EMAIL = 254
# One @, no spaces or controls, a dot in the domain: enough to catch a typo, not a full RFC 5322 parser
# (the address is a login name here; nothing is sent to it).
_EMAIL = re.compile(r"[^\s@\x00-\x1f\x7f]+@[^\s@\x00-\x1f\x7f]+\.[^\s@\x00-\x1f\x7f]+")


def new_user_id() -> str:
    return "usr_" + secrets.token_hex(8)


def actor(user_id: str) -> str:
    """How records and the audit log name what a dashboard user does."""
    return f"user:{user_id}"


def organization(raw: object) -> str:
    """The name of a new tenant: 1 to 200 characters."""
    if not isinstance(raw, str) or not raw.strip():
        raise ValidationError("enter your organization's name", code="invalid_name", field="organization")
    if len(raw.strip()) > 200 or "\x00" in raw:
        raise ValidationError(
            "an organization's name has at most 200 characters", code="invalid_name", field="organization"
        )
    return raw.strip()


def email(raw: object) -> str:
    """An email address as a login name: trimmed and lower-cased."""
    if not isinstance(raw, str) or not raw.strip():
        raise ValidationError("enter your email address", code="invalid_email", field="email")
    value = raw.strip().lower()
    if len(value) > MAX_EMAIL or not _EMAIL.fullmatch(value):
        raise ValidationError(
            "enter an email address like name@example.com", code="invalid_email", field="email"
        )
    return value


def password(raw: object) -> str:
    """A new password: 10 to 1,024 characters, not only spaces. Kept exactly as typed."""
    if not isinstance(raw, str) or len(raw) < MIN_PASSWORD or not raw.strip():
        raise ValidationError(
            f"choose a password of at least {MIN_PASSWORD} characters", code="weak_password", field="password"
        )
    if len(raw) > MAX_PASSWORD or "\x00" in raw:
        raise ValidationError(
            f"a password may have at most {MAX_PASSWORD} characters",
            code="invalid_password",
            field="password",
        )
    return raw


@dataclass(frozen=True, slots=True)
class SignUp:
    """The records of a sign-up: a new tenant, its owner, and their audit entries."""

    tenant: TenantCreated
    user: UserCreated
    trail: tuple[AuditRecorded, ...]


def sign_up(organization: str, address: str, password_hash: str, *, now: datetime) -> SignUp:
    """A new tenant named `organization` and its first user; the tenant gets no API key (the user makes
    one in the dashboard when they need it)."""
    user_id = new_user_id()
    who = actor(user_id)
    tenant = create_tenant(organization, actor=who, now=now).tenant
    user = UserCreated(new_event_id(), tenant.tenant_id, user_id, address, password_hash, who, now)
    created = audit.record(
        tenant_id=tenant.tenant_id, actor=who, action="tenant.create", target=f"tenant:{tenant.tenant_id}",
        before=None, after={"tenant_id": tenant.tenant_id, "name": tenant.name}, request_id=None, now=now,
    )  # fmt: skip
    return SignUp(tenant, user, (created, user_trail(user, None)))


def new_user(tenant_id: str, address: str, password_hash: str, *, by: str, now: datetime) -> UserCreated:
    """Another user of an existing tenant (an operator's `revos user create`)."""
    return UserCreated(new_event_id(), tenant_id, new_user_id(), address, password_hash, by, now)


def user_trail(user: UserCreated, request_id: str | None) -> AuditRecorded:
    """The audit entry of a new user: who, never the password or its hash."""
    return audit.record(
        tenant_id=user.tenant_id, actor=user.actor, action="user.create", target=f"user:{user.user_id}",
        before=None, after={"user_id": user.user_id, "email": user.email}, request_id=request_id,
        now=user.occurred_at,
    )  # fmt: skip


def password_changed(
    tenant_id: str, user_id: str, password_hash: str, *, by: str, now: datetime, request_id: str | None
) -> tuple[UserPasswordChanged, AuditRecorded]:
    """The record of a new password and its audit entry (which says only that it changed)."""
    changed = UserPasswordChanged(new_event_id(), tenant_id, user_id, password_hash, by, now)
    trail = audit.record(
        tenant_id=tenant_id, actor=by, action="user.password_change", target=f"user:{user_id}",
        before=None, after={"user_id": user_id}, request_id=request_id, now=now,
    )  # fmt: skip
    return changed, trail
