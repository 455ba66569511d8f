"""Widget session tokens: what they carry, and every way a forged, damaged or old one is refused."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import orjson
import pytest

from pipeline.chat import widget_tokens
from pipeline.chat.widget_tokens import TokenClaims, TokenError, issue, verify

SECRET = b"s" * 32
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def token(**overrides: object) -> str:
    args: dict[str, object] = {
        "secret": SECRET,
        "tenant_id": "ten_1",
        "agent_id": "agt_1",
        "origin": "https://shop.example.com",
        "visitor_id": "vis_1",
        "now": NOW,
    }
    args.update(overrides)
    return issue(**args)  # type: ignore[arg-type]


def refused(text: str, code: str, *, secret: bytes = SECRET, now: datetime = NOW) -> None:
    with pytest.raises(TokenError) as info:
        verify(secret, text, now)
    assert info.value.code == code, info.value.message


def test_a_token_carries_its_claims_for_fifteen_minutes() -> None:
    claims = verify(SECRET, token(), NOW + timedelta(seconds=899))
    assert claims == TokenClaims(
        "ten_1", "agt_1", "https://shop.example.com", "vis_1", int(NOW.timestamp()) + 900
    )
    assert claims.expires == NOW + timedelta(minutes=15)


def test_the_payload_is_the_documented_json() -> None:
    payload = token().split(".")[0]
    decoded = orjson.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert decoded == {
        "t": "ten_1",
        "a": "agt_1",
        "o": "https://shop.example.com",
        "v": "vis_1",
        "exp": int(NOW.timestamp()) + 900,
    }


def test_an_expired_token_is_a_session_expired_error() -> None:
    refused(token(), widget_tokens.EXPIRED, now=NOW + timedelta(seconds=900))
    refused(token(ttl=60), widget_tokens.EXPIRED, now=NOW + timedelta(seconds=61))


def test_another_secret_or_a_changed_payload_is_invalid() -> None:
    refused(token(), widget_tokens.INVALID, secret=b"x" * 32)
    payload, signature = token().split(".")
    forged = base64.urlsafe_b64encode(
        orjson.dumps({"t": "ten_2", "a": "agt_1", "o": "https://evil.example", "v": "v", "exp": 2**40})
    ).rstrip(b"=")
    refused(f"{forged.decode()}.{signature}", widget_tokens.INVALID)
    refused(f"{payload}.{signature[:-2]}", widget_tokens.INVALID)


@pytest.mark.parametrize("text", ["", "abc", "a.b.c", "!!!.???", "x" * 5000, "e30.", "."])
def test_malformed_tokens_are_invalid(text: str) -> None:
    refused(text, widget_tokens.INVALID)


def test_a_signed_payload_without_the_claims_is_invalid() -> None:
    import hashlib
    import hmac

    for payload in (b"[]", b'{"t": "ten_1"}', b'{"t": 1, "a": "a", "o": "o", "v": "v", "exp": 9999999999}'):
        signature = hmac.new(SECRET, payload, hashlib.sha256).digest()
        text = ".".join(base64.urlsafe_b64encode(p).rstrip(b"=").decode() for p in (payload, signature))
        refused(text, widget_tokens.INVALID)
