"""No secret in a log line: API keys, session and widget tokens, webhook and tool secrets, Twilio auth
tokens, passwords and bearer credentials are replaced by `[redacted]` before any handler writes them."""

from __future__ import annotations

import logging
import re
from typing import Any

REDACTED = "[redacted]"

# Secrets recognisable by their form wherever they appear.
_SHAPED = re.compile(
    r"\brk_[A-Za-z0-9_-]{8,}"  # API keys (pipeline/admin/keys.py)
    r"|\bwhsec_[A-Za-z0-9+/=_-]{8,}"  # webhook and tool signing secrets (Standard Webhooks form)
    r"|\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{16,}"  # widget session and call tokens: claims.signature
    r"|\bsk-[A-Za-z0-9_-]{16,}"  # model providers' API keys
)
# Secrets recognisable by the name they are given: `name=value`, `name: value`, `"name": "value"`.
_NAMED = re.compile(
    r"(?P<name>[?&]?\b(?:token|access_token|session_token|auth_token|authtoken|api_key|apikey|secret"
    r"|signing_secret|webhook_secret|tool_secret|client_secret|signature|password|passwd|revos_session)"
    r"\b[\"']?\s*[=:]\s*[\"']?)(?P<value>[^&\s\"',;}]+)",
    re.IGNORECASE,
)
_QUERY = re.compile(r"(?P<name>[?&]key=)(?P<value>[^&\s\"']*)", re.IGNORECASE)
_AUTHORIZATION = re.compile(
    r"(?P<name>\b(?:Bearer|Basic)\s+)(?P<value>[A-Za-z0-9._~+/=-]{8,})", re.IGNORECASE
)
_DSN_PASSWORD = re.compile(
    r"(?P<name>\b[a-z][a-z0-9+.-]*://[^:/@\s]+:)(?P<value>[^@\s]+)(?=@)", re.IGNORECASE
)


def _keep_name(m: re.Match[str]) -> str:
    return m.group("name") + REDACTED


def redact(text: str) -> str:
    """`text` with every secret it holds replaced by `[redacted]`."""
    text = _SHAPED.sub(REDACTED, text)
    text = _NAMED.sub(_keep_name, text)
    text = _QUERY.sub(_keep_name, text)
    text = _AUTHORIZATION.sub(_keep_name, text)
    return _DSN_PASSWORD.sub(_keep_name, text)


def redact_value(value: Any) -> Any:
    """A structured value (a field of a log line) with every string in it redacted."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: REDACTED if _NAMED.fullmatch(f"{k}=x") else redact_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_value(v) for v in value]
    return value


class RedactSecrets(logging.Filter):
    """Redacts a record's message, arguments and structured fields before any handler formats it.

    The message is formatted here once (`%r` of any object included) and its text redacted; what a
    record carries as `client_error` (or any dict field) is redacted field by field."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # a bad format string: log what was given
            message = f"{record.msg} {record.args!r}"
        record.msg = redact(message)
        record.args = None
        for name, value in list(vars(record).items()):
            if name in _EXTRA_FIELDS:
                setattr(record, name, redact_value(value))
        return True


# Structured fields some log lines carry (`extra=`), redacted like the message.
_EXTRA_FIELDS = frozenset({"client_error", "fields"})
