"""API keys: random, well formed, stored only as a SHA-256 hash with a short display prefix (no I/O)."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from pipeline.admin import actions as admin
from pipeline.admin.keys import DISPLAY_CHARS, KEY_PREFIX, hash_key, new_key, new_tenant_id, well_formed
from pipeline.errors import ValidationError


def test_keys_are_random() -> None:
    keys = [new_key() for _ in range(200)]
    assert len({k.secret for k in keys}) == 200
    assert len({k.key_id for k in keys}) == 200
    assert len({k.key_hash for k in keys}) == 200


def test_a_new_key_is_well_formed() -> None:
    key = new_key()
    assert key.secret.startswith(KEY_PREFIX)
    assert well_formed(key.secret)
    # 32 random bytes, URL-safe base64 without padding.
    assert len(key.secret) == len(KEY_PREFIX) + 43


def test_the_display_prefix_is_the_first_ten_characters() -> None:
    key = new_key()
    assert DISPLAY_CHARS == 10
    assert key.prefix == key.secret[:10]
    assert len(key.prefix) == 10


def test_the_stored_hash_is_the_sha256_hex_of_the_secret_and_never_the_secret() -> None:
    key = new_key()
    assert key.key_hash == hashlib.sha256(key.secret.encode()).hexdigest()
    assert re.fullmatch(r"[0-9a-f]{64}", key.key_hash)
    assert key.key_hash != key.secret
    assert key.secret not in key.key_hash
    assert hash_key(key.secret) == key.key_hash


def test_hash_key_is_deterministic_and_distinguishes_keys() -> None:
    assert hash_key("rk_same") == hash_key("rk_same")
    assert hash_key("rk_a") != hash_key("rk_b")
    assert hash_key("") == hashlib.sha256(b"").hexdigest()


def test_key_ids_do_not_reveal_the_secret() -> None:
    key = new_key()
    assert re.fullmatch(r"key_[0-9a-f]{16}", key.key_id)
    assert key.key_id[4:] not in key.secret


@pytest.mark.parametrize(
    "secret",
    [
        "",
        "rk_",
        "rk_" + "a" * 39,  # too short
        "rk_" + "a" * 65,  # too long
        "sk_" + "a" * 43,  # wrong prefix
        "RK_" + "a" * 43,
        "rk_" + "a" * 42 + "!",
        "rk_" + "a" * 42 + " ",
        " rk_" + "a" * 43,
        "rk_" + "a" * 43 + "\n",
        "Bearer rk_" + "a" * 43,
    ],
)
def test_malformed_secrets_are_recognised(secret: str) -> None:
    assert not well_formed(secret)


@pytest.mark.parametrize("secret", ["rk_" + "a" * 40, "rk_" + "Z9_-" * 16, "rk_" + "-" * 43])
def test_well_formed_secrets_are_recognised(secret: str) -> None:
    assert well_formed(secret)


def test_tenant_ids_are_random_and_prefixed() -> None:
    ids = {new_tenant_id() for _ in range(200)}
    assert len(ids) == 200
    assert all(re.fullmatch(r"ten_[0-9a-f]{16}", i) for i in ids)


def test_an_issued_key_records_only_its_hash_and_prefix() -> None:
    now = datetime(2026, 3, 1, tzinfo=UTC)
    issued = admin.issue_key("ten_1", actor="key:key_a", now=now)
    r = issued.record
    assert (r.tenant_id, r.actor, r.occurred_at) == ("ten_1", "key:key_a", now)
    assert r.key_hash == hash_key(issued.secret) and issued.secret.startswith(r.prefix)
    assert issued.secret not in repr(r)


@pytest.mark.parametrize(
    ("body", "default", "seconds"),
    [
        (None, 0, 0),
        ({}, 86_400, 86_400),
        ({"grace_seconds": 0}, 86_400, 0),
        ({"grace_seconds": 2_592_000}, 0, 2_592_000),
    ],
)
def test_a_grace_period_defaults_per_action_and_may_be_zero(
    body: dict[str, Any] | None, default: int, seconds: int
) -> None:
    assert admin.grace(body, default) == timedelta(seconds=seconds)


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"grace_seconds": -1}, "invalid_grace_seconds"),
        ({"grace_seconds": 2_592_001}, "invalid_grace_seconds"),
        ({"grace_seconds": 1.5}, "invalid_grace_seconds"),
        ({"grace_seconds": True}, "invalid_grace_seconds"),
        ({"grace_seconds": "60"}, "invalid_grace_seconds"),
        ({"until": "tomorrow"}, "unknown_field"),
    ],
)
def test_a_bad_grace_period_is_refused(body: dict[str, Any], code: str) -> None:
    with pytest.raises(ValidationError) as refused:
        admin.grace(body, 0)
    assert refused.value.code == code


def test_a_revocation_takes_effect_after_its_grace() -> None:
    now = datetime(2026, 3, 1, tzinfo=UTC)
    r = admin.revoke_key("ten_1", "key_b", after=timedelta(hours=1), actor="key:key_a", now=now)
    assert (r.key_id, r.revoke_at, r.occurred_at) == ("key_b", now + timedelta(hours=1), now)


@pytest.mark.parametrize(("body", "scope"), [(None, "admin"), ({}, "admin"), ({"scope": "ingest"}, "ingest"),
                                             ({"scope": "admin"}, "admin")])  # fmt: skip
def test_a_new_key_is_admin_unless_asked_for_ingest(body: dict[str, Any] | None, scope: str) -> None:
    assert admin.key_scope(body) == scope
    issued = admin.issue_key("ten_1", actor="key:key_a", now=datetime(2026, 3, 1, tzinfo=UTC), scope=scope)
    assert issued.record.scope == scope
    assert admin.issued_trail(issued.record, None).after == f'{{"key_id":"{issued.record.key_id}",' + (
        f'"prefix":"{issued.record.prefix}","scope":"{scope}"}}'
    )


@pytest.mark.parametrize(
    ("body", "code"),
    [({"scope": "read"}, "invalid_scope"), ({"scope": ["ingest"]}, "invalid_scope"),
     ({"scope": None}, "invalid_scope"), ({"name": "x"}, "unknown_field"), ([], "invalid_type")],
)  # fmt: skip
def test_a_bad_key_scope_is_refused(body: object, code: str) -> None:
    with pytest.raises(ValidationError) as refused:
        admin.key_scope(body)
    assert refused.value.code == code
