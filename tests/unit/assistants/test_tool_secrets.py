"""Tool secrets at rest: sealed with the key and bound to their assistant; legacy plain text opens."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from pipeline.assistants import model as assistants
from pipeline.assistants import tool_secrets
from pipeline.assistants.tool_secrets import SecretBox, SecretUnreadable

SECRET = "whsec_0123456789abcdef"
BOX = SecretBox(b"s" * 32)
NOW = datetime(2026, 12, 1, tzinfo=UTC)


def record() -> assistants.AssistantChanged:
    tool = {"name": "lookup", "url": "https://tools.example.com/x", "secret": SECRET}
    body = {"name": "Helper", "customer": "c", "tools": [tool]}
    return assistants.create(body, tenant_id="ten_a", agent_id="agt_1", actor="key:k", now=NOW)


def test_a_sealed_secret_hides_the_text_and_opens_with_its_key_and_assistant() -> None:
    sealed = tool_secrets.sealed(BOX, record())
    [tool] = sealed.tools
    assert tool.secret.startswith(tool_secrets.PREFIX) and SECRET not in tool.secret
    assert tool_secrets.sealed(BOX, sealed) == sealed  # sealing twice changes nothing
    assert tool_secrets.opened(BOX, assistants.from_record(sealed)).tools[0].secret == SECRET
    with pytest.raises(SecretUnreadable):
        BOX.open(tool.secret, "ten_b/agt_1")  # moved to another tenant's assistant
    with pytest.raises(SecretUnreadable):
        SecretBox(b"x" * 32).open(tool.secret, "ten_a/agt_1")  # another key


def test_a_secret_stored_in_plain_text_by_an_earlier_version_opens_as_it_is() -> None:
    assert BOX.open(SECRET, "ten_a/agt_1") == SECRET


def test_the_api_view_never_shows_a_secret() -> None:
    shown = assistants.public(assistants.from_record(tool_secrets.sealed(BOX, record())))
    assert shown["tools"][0]["secret_set"] is True and "secret" not in shown["tools"][0]
