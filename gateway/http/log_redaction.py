"""Secrets kept out of the gateway's log, uvicorn's own lines included.

uvicorn logs every websocket it accepts with its path and query (`"WebSocket /v1/chat?token=..."`),
and a widget session token is a bearer credential for 15 minutes: the log says `token=[redacted]`.
The redaction itself (every kind of secret) is infra/logs/redaction.py.
"""

from __future__ import annotations

import copy
from typing import Any

from infra.logs.redaction import REDACTED, RedactSecrets, redact
from pipeline.settings import Settings

__all__ = ["REDACTED", "RedactSecrets", "redact", "uvicorn_log_config"]


def uvicorn_log_config(settings: Settings | None = None) -> dict[str, Any]:
    """uvicorn's own logging configuration: its loggers write through the root logger's handlers (the
    process's format, redacted) instead of handlers of their own."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config.setdefault("filters", {})["redact_secrets"] = {"()": RedactSecrets}
    for handler in config["handlers"].values():
        handler.setdefault("filters", []).append("redact_secrets")
    for logger in config["loggers"].values():
        logger["handlers"] = []
        logger["propagate"] = True
    config["disable_existing_loggers"] = False
    return config
