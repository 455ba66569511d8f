"""Call tokens: ours, current, for one call; a widget session token never passes for one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from pipeline.chat import widget_tokens
from pipeline.chat.widget_tokens import TokenError
from pipeline.voice import call_tokens

SECRET = b"s" * 32
NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


def test_a_token_carries_its_call() -> None:
    token = call_tokens.issue(SECRET, "ten_1", "agt_1", "CA1", NOW)
    claims = call_tokens.verify(SECRET, token, NOW + timedelta(seconds=60))
    assert (claims.tenant_id, claims.agent_id, claims.call_sid) == ("ten_1", "agt_1", "CA1")


def test_expired_forged_and_foreign_tokens_are_refused() -> None:
    token = call_tokens.issue(SECRET, "ten_1", "agt_1", "CA1", NOW)
    with pytest.raises(TokenError) as expired:
        call_tokens.verify(SECRET, token, NOW + timedelta(seconds=call_tokens.TTL_SECONDS))
    assert expired.value.code == widget_tokens.EXPIRED
    with pytest.raises(TokenError):
        call_tokens.verify(b"x" * 32, token, NOW)
    with pytest.raises(TokenError):
        call_tokens.verify(SECRET, token[:-2] + "AA", NOW)
    widget = widget_tokens.issue(SECRET, "ten_1", "agt_1", "https://a.example", "vis_1", NOW)
    with pytest.raises(TokenError):
        call_tokens.verify(SECRET, widget, NOW)
    with pytest.raises(TokenError):
        widget_tokens.verify(SECRET, token, NOW)
