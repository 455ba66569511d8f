"""The chat's Prometheus metrics on the gateway: open sockets, time to first token, turn errors by
cause, and model calls a fallback model answered."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

OPEN_SOCKETS = Gauge("revos_chat_open_sockets", "Chat websockets open on this gateway")
FIRST_TOKEN = Histogram(
    "revos_chat_first_token_seconds",
    "From a model call's start to its first streamed token",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32),
)
TURN_ERRORS = Counter(
    "revos_chat_turn_errors",
    "Chat turns that did not end in a complete answer, by cause "
    "(model_failed, interrupted, unavailable, turn_failed)",
    ["cause"],
)
FALLBACKS = Counter("revos_chat_provider_fallbacks", "Model calls answered by a fallback model")
