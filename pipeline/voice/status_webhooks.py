"""The tenant's status webhooks (Standard Webhooks): each event's stable id and body, and the retry schedule.

An agent's phone line may name a `status_webhook_url`; it then receives `call.started`, `call.ended` and
`call.failed`, each once per call with an id derived from the call and the type, so every retry (and a
record derived again) carries the same `webhook-id`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pipeline.voice.summary import CallSummary


def webhook_id(tenant_id: str, call_sid: str, event_type: str) -> str:
    """The delivery's `webhook-id`: the same for one call and type, whoever derives it, however often."""
    digest = hashlib.sha256("\x1f".join((tenant_id, call_sid, event_type)).encode()).hexdigest()
    return f"msg_{digest[:24]}"


def _instant(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def payload(event_type: str, at: datetime, call: CallSummary, base_url: str = "") -> dict[str, Any]:
    """The body of one status webhook; `base_url` (REVOS_PUBLIC_URL) makes the transcript link absolute."""
    return {
        "type": event_type,
        "timestamp": _instant(at),
        "data": {
            "call_sid": call.call_sid,
            "agent_id": call.agent_id,
            "state": call.state,
            "end_reason": call.end_reason,
            "from": call.from_number,
            "to": call.to_number,
            "duration_seconds": call.duration_seconds,
            "transcript_url": f"{base_url.rstrip('/')}/v1/calls/{call.call_sid}",
        },
    }


@dataclass(frozen=True, slots=True)
class Backoff:
    """When to try a failed delivery again: exponential from `first` seconds, capped at `cap`, with
    jitter, until `give_up_after` seconds have passed since the event (then it is marked failed)."""

    first: float = 5.0
    factor: float = 2.0
    cap: float = 3600.0
    give_up_after: float = 24 * 3600.0

    def delay(self, attempts: int, jitter: float) -> float:
        """Seconds to wait after the `attempts`-th failed attempt; `jitter` in [0, 1) picks a point in the
        upper half of the step, so deliveries that failed together spread out and none waits past `cap`."""
        step = min(self.cap, self.first * self.factor ** max(0, attempts - 1))
        return step / 2 + step / 2 * jitter

    def gives_up(self, age_seconds: float) -> bool:
        """Whether a delivery this old that just failed is given up on."""
        return age_seconds >= self.give_up_after
