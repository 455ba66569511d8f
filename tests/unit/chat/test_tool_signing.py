"""Signing tool requests, and the verification tenants run."""

from __future__ import annotations

import hashlib
import hmac
import time
from pathlib import Path
from typing import Any

import pytest

from pipeline.chat.tool_signing import new_delivery_id, sign, verify

SECRET = "whsec_abc"
BODY = b'{"tool":"lookup_order","arguments":{"order_id":"A-1"},"context":{}}'
NOW = 1_767_225_600
DELIVERY = "dlv_0123456789abcdef0123456789abcdef"


def test_the_signature_is_hmac_sha256_of_timestamp_dot_delivery_dot_body() -> None:
    message = b"1767225600." + DELIVERY.encode() + b"." + BODY
    expected = hmac.new(b"whsec_abc", message, hashlib.sha256).hexdigest()
    assert sign(SECRET, NOW, BODY, delivery=DELIVERY) == "sha256=" + expected
    # Known answer, from `printf 1767225600.dlv_0123456789abcdef0123456789abcdef. | openssl dgst -sha256 -hmac whsec_abc`.
    assert sign(SECRET, NOW, b"", delivery=DELIVERY) == (
        "sha256=ed78061f9fece5d6f8a25f3752d5fae71e027154a9cc444a3b4b1c6b94f53633"
    )


def test_every_delivery_has_an_id_of_its_own() -> None:
    ids = {new_delivery_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(i.startswith("dlv_") and len(i) == 36 for i in ids)


def test_verify_accepts_a_fresh_valid_signature() -> None:
    signature = sign(SECRET, NOW, BODY, delivery=DELIVERY)
    assert verify(SECRET, str(NOW), BODY, signature, delivery=DELIVERY, now=NOW + 299) is True
    assert verify(SECRET, NOW, BODY, signature, delivery=DELIVERY, now=NOW - 299) is True


def test_verify_rejects_tampering_another_secret_and_stale_or_garbled_timestamps() -> None:
    signature = sign(SECRET, NOW, BODY, delivery=DELIVERY)

    def check(**changed: Any) -> bool:
        given = {"secret": SECRET, "timestamp": NOW, "body": BODY, "signature": signature}
        given |= {k: v for k, v in changed.items() if k in given}
        return verify(**given, delivery=changed.get("delivery", DELIVERY), now=changed.get("now", NOW),
                      tolerance=changed.get("tolerance", 300))  # fmt: skip

    assert check() is True
    assert check(body=BODY + b" ") is False
    assert check(secret="other") is False
    assert check(timestamp=NOW + 1) is False
    assert check(now=NOW + 301) is False
    assert check(now=NOW + 30, tolerance=10) is False
    assert check(timestamp="soon") is False
    assert check(signature=signature.removeprefix("sha256=")) is False


@pytest.mark.parametrize(
    "delivery",
    [
        "dlv_ffffffffffffffffffffffffffffffff",  # another delivery id: a replay under a new id
        "",
        # Moving bytes between the id and the body keeps the signed text; ids with a dot are refused.
        DELIVERY + '.{"tool"',
    ],
)
def test_the_delivery_id_is_covered_by_the_signature(delivery: str) -> None:
    body = BODY.removeprefix(b'{"tool"') if "." in delivery else BODY
    signature = sign(SECRET, NOW, BODY, delivery=DELIVERY)
    assert verify(SECRET, NOW, body, signature, delivery=delivery, now=NOW) is False


def test_the_verification_recipe_in_the_docs_agrees() -> None:
    text = (Path(__file__).parents[3] / "docs" / "chat.md").read_text()
    recipe = text.split("## Tools", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    namespace: dict[str, Any] = {}
    exec(recipe, namespace)
    genuine = namespace["revos_request_is_genuine"]
    timestamp = int(time.time())
    signature = sign(SECRET, timestamp, BODY, delivery=DELIVERY)

    assert genuine(SECRET, str(timestamp), DELIVERY, BODY, signature) is True
    assert genuine(SECRET, str(timestamp), DELIVERY, BODY + b"x", signature) is False
    assert genuine(SECRET, str(timestamp), "dlv_other", BODY, signature) is False
    stale = sign(SECRET, timestamp - 301, BODY, delivery=DELIVERY)
    assert genuine(SECRET, str(timestamp - 301), DELIVERY, BODY, stale) is False
    replayed = sign(SECRET, timestamp, BODY, delivery="dlv_replayed")
    assert genuine(SECRET, str(timestamp), "dlv_replayed", BODY, replayed) is True
    assert genuine(SECRET, str(timestamp), "dlv_replayed", BODY, replayed) is False  # seen before
