"""Tool signing secrets encrypted at rest: AES-256-GCM under a key kept outside the database.

The gateway seals a secret as soon as a tenant gives it, so the record on the broker, the outbox row,
a dead letter and the projection all hold only the sealed form; it is opened only to sign a tool
call, or to carry a kept secret over when an assistant is changed. The sealed form is bound to its
tenant and assistant, so it cannot be moved to another one. Secrets stored by earlier versions are
plain text: they open as they are, and are sealed when their assistant is next written.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Callable
from dataclasses import replace

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from pipeline.assistants.model import Assistant
from pipeline.errors import RevosError
from pipeline.records import AssistantChanged, AssistantTool, AssistantVoice

PREFIX = "enc:v1:"
_NONCE = 12


class SecretUnreadable(RevosError):
    """A sealed secret this key cannot open (another key, or changed)."""

    code = "secret_unreadable"


class SecretBox:
    """Seals and opens secrets with one 32-byte key."""

    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(key)

    def seal(self, secret: str, context: str) -> str:
        if secret.startswith(PREFIX):
            return secret
        nonce = os.urandom(_NONCE)
        sealed = self._aead.encrypt(nonce, secret.encode(), context.encode())
        return PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode()

    def open(self, value: str, context: str) -> str:
        """The secret; a value that is not sealed (stored by an earlier version) is returned as is."""
        if not value.startswith(PREFIX):
            return value
        try:
            raw = base64.urlsafe_b64decode(value[len(PREFIX) :])
            return self._aead.decrypt(raw[:_NONCE], raw[_NONCE:], context.encode()).decode()
        except (ValueError, InvalidTag) as exc:
            raise SecretUnreadable(
                f"a tool secret of {context} cannot be opened with this key (REVOS_SECRETS_KEY or "
                "REVOS_HOME/secrets.key): restore the key it was sealed with, or set the secret again"
            ) from exc


def context(tenant_id: str, agent_id: str) -> str:
    return f"{tenant_id}/{agent_id}"


def _tools(tools: tuple[AssistantTool, ...], change: Callable[[str], str]) -> tuple[AssistantTool, ...]:
    return tuple(replace(t, secret=change(t.secret)) for t in tools)


def _voice(line: AssistantVoice | None, change: Callable[[str], str]) -> AssistantVoice | None:
    if line is None or line.status_webhook_secret is None:
        return line
    return replace(line, status_webhook_secret=change(line.status_webhook_secret))


def sealed(box: SecretBox, r: AssistantChanged) -> AssistantChanged:
    """`r` with every tool secret (and its status webhook's signing secret) sealed."""
    where = context(r.tenant_id, r.agent_id)
    seal: Callable[[str], str] = lambda s: box.seal(s, where)  # noqa: E731
    return replace(r, tools=_tools(r.tools, seal), voice=_voice(r.voice, seal))


def opened(box: SecretBox, a: Assistant) -> Assistant:
    """`a` with every secret opened (for carrying kept secrets over, never for showing)."""
    where = context(a.tenant_id, a.agent_id)
    unseal: Callable[[str], str] = lambda s: box.open(s, where)  # noqa: E731
    return replace(a, tools=_tools(a.tools, unseal), voice=_voice(a.voice, unseal))


def opened_webhook_secret(box: SecretBox, tenant_id: str, agent_id: str, line: AssistantVoice) -> str | None:
    """The status webhook's signing secret of an agent's phone line, to sign a delivery."""
    if line.status_webhook_secret is None:
        return None
    return box.open(line.status_webhook_secret, context(tenant_id, agent_id))


def opened_tool(box: SecretBox, tenant_id: str, agent_id: str, tool: AssistantTool) -> AssistantTool:
    return replace(tool, secret=box.open(tool.secret, context(tenant_id, agent_id)))
