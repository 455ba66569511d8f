"""Widget session tokens: signed, short-lived proof that a page on an allowed origin asked to chat.

A token is `base64url(payload).base64url(HMAC-SHA256(secret, payload))` with the payload
`{"t": tenant, "a": agent_id, "o": origin, "v": visitor_id, "exp": unix seconds}`. It needs no
storage: any gateway process holding the secret can verify it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from pipeline.errors import ValidationError

TTL_SECONDS = 900  # 15 minutes: long enough for a chat, short enough that a leaked token soon dies
INVALID = "invalid_token"
EXPIRED = "session_expired"
MAX_TOKEN = 4096  # longer than any token issued here: refuse before decoding


class TokenError(ValidationError):
    """A token that is forged, damaged (`invalid_token`) or too old (`session_expired`)."""

    code = INVALID


@dataclass(frozen=True, slots=True)
class TokenClaims:
    tenant_id: str
    agent_id: str
    origin: str
    visitor_id: str
    expires_at: int  # unix seconds

    @property
    def expires(self) -> datetime:
        return datetime.fromtimestamp(self.expires_at, UTC)


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(secret: bytes, payload: bytes) -> bytes:
    return hmac.new(secret, payload, hashlib.sha256).digest()


def issue(
    secret: bytes,
    tenant_id: str,
    agent_id: str,
    origin: str,
    visitor_id: str,
    now: datetime,
    ttl: int = TTL_SECONDS,
) -> str:
    """A token for one visitor of one agent on one origin, valid `ttl` seconds from `now`."""
    claims = {"t": tenant_id, "a": agent_id, "o": origin, "v": visitor_id, "exp": int(now.timestamp()) + ttl}
    return sign_claims(secret, claims)


def sign_claims(secret: bytes, claims: dict[str, object]) -> str:
    """`base64url(claims).base64url(HMAC-SHA256(secret, claims))`."""
    payload = orjson.dumps(claims)
    return f"{_b64encode(payload)}.{_b64encode(_sign(secret, payload))}"


def _invalid(why: str) -> TokenError:
    return TokenError(f"the session token is invalid: {why}", code=INVALID)


def signed_claims(secret: bytes, token: str) -> dict[str, Any]:
    """The claims of a token `sign_claims` made with `secret`; TokenError for anything else.

    The signature is checked (in constant time) before the payload is even parsed, so nothing a
    forger wrote is interpreted."""
    if not token or len(token) > MAX_TOKEN or token.count(".") != 1:
        raise _invalid("malformed")
    encoded, signature = token.split(".")
    try:
        payload = _b64decode(encoded)
        given = _b64decode(signature)
    except (binascii.Error, ValueError) as exc:
        raise _invalid("not base64url") from exc
    if not hmac.compare_digest(given, _sign(secret, payload)):
        raise _invalid("bad signature")
    try:
        claims = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise _invalid("unreadable claims") from exc
    if not isinstance(claims, dict):
        raise _invalid("unreadable claims")
    return claims


def verify(secret: bytes, token: str, now: datetime) -> TokenClaims:
    """The token's claims when its signature is ours and it has not expired; TokenError otherwise."""
    claims = signed_claims(secret, token)
    try:
        parsed = TokenClaims(
            tenant_id=claims["t"],
            agent_id=claims["a"],
            origin=claims["o"],
            visitor_id=claims["v"],
            expires_at=claims["exp"],
        )
    except (KeyError, TypeError) as exc:
        raise _invalid("unreadable claims") from exc
    if not all(
        isinstance(v, str) for v in (parsed.tenant_id, parsed.agent_id, parsed.origin, parsed.visitor_id)
    ):
        raise _invalid("unreadable claims")
    if isinstance(parsed.expires_at, bool) or not isinstance(parsed.expires_at, int):
        raise _invalid("unreadable claims")
    if now.timestamp() >= parsed.expires_at:
        raise TokenError("the chat session expired; start a new one", code=EXPIRED)
    return parsed
