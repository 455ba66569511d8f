"""One alert webhook's delivery: its stable id and body, and when an endpoint that keeps failing is
disabled. Retries follow the status webhooks' `Backoff` (pipeline/voice/status_webhooks.py)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any


def webhook_id(tenant_id: str, endpoint_id: str, event_type: str, fact_id: str) -> str:
    """The delivery's `webhook-id`: one per endpoint and fact (an alert, a grant's expiry, a dead letter,
    a call's event), whoever derives it, however often the fact is applied."""
    digest = hashlib.sha256("\x1f".join((tenant_id, endpoint_id, event_type, fact_id)).encode()).hexdigest()
    return f"msg_{digest[:24]}"


def instant(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def payload(event_type: str, at: datetime, data: Mapping[str, Any]) -> dict[str, Any]:
    """The Standard Webhooks body: `type`, `timestamp` (when the fact happened) and `data`."""
    return {"type": event_type, "timestamp": instant(at), "data": dict(data)}


@dataclass(frozen=True, slots=True)
class DisablePolicy:
    """An endpoint is disabled once every attempt to it has failed for `after` seconds (no 2xx answer
    since its first failure) and at least `min_failures` attempts failed in that time."""

    after: float = 24 * 3600.0
    min_failures: int = 5

    def disables(self, failing_since: datetime, failures: int, now: datetime) -> bool:
        return failures >= self.min_failures and (now - failing_since).total_seconds() >= self.after
