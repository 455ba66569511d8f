"""Call tokens: the incoming-call webhook's signed, short-lived proof, passed to the relay socket as a
TwiML `<Parameter>`, that this gateway answered this call for this agent.

Signed like widget session tokens (pipeline/chat/widget_tokens.py) with the same secret; the `p`
claim keeps either kind from passing as the other.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pipeline.chat.widget_tokens import EXPIRED, TokenError, sign_claims, signed_claims

TTL_SECONDS = 120  # Twilio opens the relay socket within seconds of our TwiML
PURPOSE = "call"


@dataclass(frozen=True, slots=True)
class CallClaims:
    tenant_id: str
    agent_id: str
    call_sid: str
    expires_at: int


def issue(
    secret: bytes, tenant_id: str, agent_id: str, call_sid: str, now: datetime, ttl: int = TTL_SECONDS
) -> str:
    claims = {"p": PURPOSE, "t": tenant_id, "a": agent_id, "c": call_sid, "exp": int(now.timestamp()) + ttl}
    return sign_claims(secret, claims)


def verify(secret: bytes, token: str, now: datetime) -> CallClaims:
    """The claims of a call token we issued that has not expired; TokenError otherwise."""
    claims = signed_claims(secret, token)
    values = (claims.get("t"), claims.get("a"), claims.get("c"))
    expires = claims.get("exp")
    if claims.get("p") != PURPOSE or not all(isinstance(v, str) for v in values):
        raise TokenError("the call token is invalid: unreadable claims")
    if isinstance(expires, bool) or not isinstance(expires, int):
        raise TokenError("the call token is invalid: unreadable claims")
    if now.timestamp() >= expires:
        raise TokenError("the call token expired", code=EXPIRED)
    tenant_id, agent_id, call_sid = (str(v) for v in values)
    return CallClaims(tenant_id, agent_id, call_sid, expires)
