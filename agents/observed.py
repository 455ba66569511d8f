"""What the runner says about the records it applies: a span per applied batch (when tracing is on), a log
line naming the requests a batch came from, and the log context of one record."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from infra import tracing
from pipeline import log_context

if TYPE_CHECKING:
    from agents.runner import Message

log = logging.getLogger("agents.runner")  # the runner's lines, wherever they are written from

# A batch's line names at most this many of the requests its records came from.
MAX_LOGGED_REQUESTS = 20


def batch_span(
    consumer: str, topic: str, partition: int, batch: Sequence[Message]
) -> AbstractContextManager[Any]:
    """A span for one applied batch of one partition, parented on its first record's trace context and
    linked to the others' (a batch holds many requests' records); nothing when tracing is off."""
    if not tracing.enabled():
        return contextlib.nullcontext()
    return tracing.span_over(
        f"apply {consumer}",
        (tracing.context_of(m.headers) for m in batch),
        attributes={
            "messaging.destination.name": topic,
            "messaging.destination.partition.id": str(partition),
            "messaging.batch.message_count": len(batch),
            "revos.first_offset": batch[0].offset,
            "revos.consumer": consumer,
        },
    )


def log_applied(consumer: str, topic: str, partition: int, applied: Sequence[Message]) -> None:
    """One line per applied batch, naming the requests its records came from (`revos logs --request-id`):
    info when some came from requests, debug otherwise (the scheduler's watermarks come every 250 ms)."""
    if not applied or not log.isEnabledFor(logging.INFO):
        return
    requests = list(dict.fromkeys(r for m in applied if (r := log_context.request_id_of(m.headers))))
    if not requests and not log.isEnabledFor(logging.DEBUG):
        return
    fields: dict[str, Any] = {"request_ids": requests[:MAX_LOGGED_REQUESTS]} if requests else {}
    with log_context.bound(request_id=requests[0] if len(requests) == 1 else None):
        log.log(
            logging.INFO if requests else logging.DEBUG,
            "%s applied %d records of %s[%d] at %d..%d",
            consumer,
            len(applied),
            topic,
            partition,
            applied[0].offset,
            applied[-1].offset,
            extra=fields,
        )


def bound_to(message: Message) -> AbstractContextManager[None]:
    """Log lines about one record carry its request id and tenant (a key's part before the first ':')."""
    tenant = None
    if message.key and b":" in message.key:
        tenant = message.key.split(b":", 1)[0].decode("utf-8", "replace")
    return log_context.bound(request_id=log_context.request_id_of(message.headers), tenant_id=tenant)
