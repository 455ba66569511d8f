"""Secrets kept out of the gateway's log: query parameters that carry credentials are redacted.

uvicorn logs every websocket it accepts with its path and query (`"WebSocket /v1/chat?token=..."`),
and a widget session token is a bearer credential for 15 minutes: the log says `token=[redacted]`.
"""

from __future__ import annotations

import copy
import logging
import re
from typing import Any

REDACTED = "[redacted]"
_SECRET_PARAMETER = re.compile(
    r"([?&](?:token|access_token|api_key|key|secret|signature|password)=)[^&\s\"']*", re.IGNORECASE
)


def redact(text: str) -> str:
    """`text` with the value of every secret-bearing query parameter replaced by `[redacted]`."""
    return _SECRET_PARAMETER.sub(lambda m: m.group(1) + REDACTED, text)


class RedactSecrets(logging.Filter):
    """Redacts a record's message and its string arguments before any handler formats it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {k: redact(v) if isinstance(v, str) else v for k, v in record.args.items()}
        return True


def uvicorn_log_config() -> dict[str, Any]:
    """uvicorn's own logging configuration, with every handler redacting."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config.setdefault("filters", {})["redact_secrets"] = {"()": RedactSecrets}
    for handler in config["handlers"].values():
        handler.setdefault("filters", []).append("redact_secrets")
    return config


def redact_root_handlers() -> None:
    """The same for the handlers of the root logger (the gateway's own records)."""
    for handler in logging.getLogger().handlers:
        handler.addFilter(RedactSecrets())
