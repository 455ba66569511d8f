"""Signing tool requests, and the verification tenants run."""

from __future__ import annotations

import hashlib
import hmac
import time
from pathlib import Path
from typing import Any

from pipeline.tool_signing import sign, verify

SECRET = "whsec_abc"
BODY = b'{"tool":"lookup_order","arguments":{"order_id":"A-1"},"context":{}}'
NOW = 1_767_225_600


def test_the_signature_is_hmac_sha256_of_timestamp_dot_body() -> None:
    expected = hmac.new(b"whsec_abc", b"1767225600." + BODY, hashlib.sha256).hexdigest()
    assert sign(SECRET, NOW, BODY) == "sha256=" + expected
    # Known answer, from `printf 1767225600. | openssl dgst -sha256 -hmac whsec_abc`.
    assert sign(SECRET, NOW, b"") == "sha256=3cbb0c6ee7317e3eb3a6e86e3521aff1d8d39fe5d812e5a20962e938f8b8db34"


def test_verify_accepts_a_fresh_valid_signature() -> None:
    signature = sign(SECRET, NOW, BODY)
    assert verify(SECRET, str(NOW), BODY, signature, now=NOW + 299) is True
    assert verify(SECRET, NOW, BODY, signature, now=NOW - 299) is True


def test_verify_rejects_tampering_another_secret_and_stale_or_garbled_timestamps() -> None:
    signature = sign(SECRET, NOW, BODY)
    assert verify(SECRET, NOW, BODY + b" ", signature, now=NOW) is False
    assert verify("other", NOW, BODY, signature, now=NOW) is False
    assert verify(SECRET, NOW + 1, BODY, signature, now=NOW) is False
    assert verify(SECRET, NOW, BODY, signature, now=NOW + 301) is False
    assert verify(SECRET, NOW, BODY, signature, now=NOW + 30, tolerance=10) is False
    assert verify(SECRET, "soon", BODY, signature, now=NOW) is False
    assert verify(SECRET, NOW, BODY, signature.removeprefix("sha256="), now=NOW) is False


def test_the_verification_recipe_in_the_docs_agrees() -> None:
    text = (Path(__file__).parents[2] / "docs" / "chat.md").read_text()
    recipe = text.split("## Tools", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    namespace: dict[str, Any] = {}
    exec(recipe, namespace)
    genuine = namespace["revos_request_is_genuine"]
    timestamp = int(time.time())
    signature = sign(SECRET, timestamp, BODY)

    assert genuine(SECRET, str(timestamp), BODY, signature) is True
    assert genuine(SECRET, str(timestamp), BODY + b"x", signature) is False
    assert genuine(SECRET, str(timestamp - 301), BODY, sign(SECRET, timestamp - 301, BODY)) is False
