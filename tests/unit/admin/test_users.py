"""Dashboard users' rules: emails, passwords, organization names, the sign-up records and their audit."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest

from pipeline.admin import users
from pipeline.errors import ValidationError
from pipeline.settings import Settings

NOW = datetime(2026, 12, 1, tzinfo=UTC)
HASH = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA"


@pytest.mark.parametrize("raw", ["Ada@Example.COM", "  ada@example.com ", "ada+x@sub.example.co.uk"])
def test_an_email_is_trimmed_and_lower_cased(raw: str) -> None:
    assert users.email(raw) == raw.strip().lower()


@pytest.mark.parametrize("raw", [None, "", "   ", "ada", "ada@", "@example.com", "ada@example", "a da@example.com",
                                 "ada@@example.com", "ada@exa\x00mple.com", "a" * 250 + "@example.com", 42])  # fmt: skip
def test_a_malformed_email_is_refused_with_its_field(raw: object) -> None:
    with pytest.raises(ValidationError) as refused:
        users.email(raw)
    assert refused.value.code == "invalid_email" and refused.value.field == "email"


def test_a_password_needs_ten_characters_not_all_spaces_and_is_kept_as_typed() -> None:
    assert users.password("  ten chars  ") == "  ten chars  "
    for weak in ("short", " " * 12, None):
        with pytest.raises(ValidationError) as refused:
            users.password(weak)
        assert refused.value.code == "weak_password"
    with pytest.raises(ValidationError) as refused:
        users.password("x" * 1025)
    assert refused.value.code == "invalid_password"


def test_an_organization_name_is_required_and_bounded() -> None:
    assert users.organization("  Acme  ") == "Acme"
    for bad in ("", "   ", "x" * 201, None):
        with pytest.raises(ValidationError) as refused:
            users.organization(bad)
        assert refused.value.field == "organization"


def test_a_sign_up_records_a_tenant_and_its_owner_and_audits_both_without_the_hash() -> None:
    made = users.sign_up("Acme", "ada@example.com", HASH, now=NOW)
    assert made.user.tenant_id == made.tenant.tenant_id and made.user.password_hash == HASH
    assert made.tenant.actor == made.user.actor == f"user:{made.user.user_id}"
    assert [t.action for t in made.trail] == ["tenant.create", "user.create"]
    assert all(t.actor == made.user.actor for t in made.trail)
    assert HASH not in orjson.dumps([t.after for t in made.trail]).decode()
    assert HASH not in repr(made.user)


def test_a_password_change_is_audited_without_the_hash() -> None:
    changed, trail = users.password_changed("ten_1", "usr_1", HASH, by="user:usr_1", now=NOW, request_id="r1")
    assert changed.password_hash == HASH and trail.action == "user.password_change"
    assert HASH not in (trail.after or "") and trail.request_id == "r1"


@pytest.mark.parametrize(
    ("env", "open_"),
    [
        ({}, True),
        ({"REVOS_GATEWAY_HOST": "0.0.0.0"}, False),
        ({"REVOS_GATEWAY_HOST": "::1"}, True),
        ({"REVOS_GATEWAY_HOST": "0.0.0.0", "REVOS_SIGNUP": "open"}, True),
        ({"REVOS_SIGNUP": "closed"}, False),
        ({"REVOS_GATEWAY_HOST": "localhost", "REVOS_SIGNUP": "auto"}, True),
    ],
)
def test_sign_up_is_open_by_default_only_on_a_loopback_gateway(env: dict[str, str], open_: bool) -> None:
    assert Settings.from_env({"REVOS_HOME": "/tmp/revos-unit", **env}).signup_open is open_


def test_an_unknown_sign_up_setting_is_refused() -> None:
    with pytest.raises(Exception, match="REVOS_SIGNUP"):
        Settings.from_env({"REVOS_HOME": "/tmp/revos-unit", "REVOS_SIGNUP": "maybe"})
