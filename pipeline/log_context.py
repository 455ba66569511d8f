"""What a log line is about: the tenant and the request of the work in hand, kept in context variables.

The gateway's request middleware and the worker's runner set them; the log formatter reads them, so a
line logged anywhere below carries them without being passed along.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Sequence
from contextvars import ContextVar
from dataclasses import replace

from pipeline.publishing import Delivered, Outgoing, Publisher

REQUEST_ID: ContextVar[str | None] = ContextVar("revos_request_id", default=None)
TENANT_ID: ContextVar[str | None] = ContextVar("revos_tenant_id", default=None)
# The record header that carries the request id from the gateway to the worker.
REQUEST_ID_HEADER = "revos-request-id"


def current() -> dict[str, str]:
    """The known fields of the work in hand (request_id, tenant_id), none that is unknown."""
    fields = {"request_id": REQUEST_ID.get(), "tenant_id": TENANT_ID.get()}
    return {k: v for k, v in fields.items() if v}


@contextlib.contextmanager
def bound(*, request_id: str | None = None, tenant_id: str | None = None) -> Iterator[None]:
    """Within the block, log lines carry these (an argument left None keeps what was bound before)."""
    tokens = []
    if request_id is not None:
        tokens.append((REQUEST_ID, REQUEST_ID.set(request_id)))
    if tenant_id is not None:
        tokens.append((TENANT_ID, TENANT_ID.set(tenant_id)))
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


def request_id_of(headers: Iterable[tuple[str, bytes]]) -> str | None:
    """The request id a record's headers carry, if any."""
    for name, value in headers:
        if name == REQUEST_ID_HEADER and value:
            return value.decode("utf-8", "replace")
    return None


class RequestTagging:
    """A publisher that puts the request id in hand in the headers of every record it sends, so the
    worker's log lines about a record carry the request that produced it."""

    def __init__(self, inner: Publisher) -> None:
        self._inner = inner

    async def publish(self, records: Sequence[Outgoing]) -> list[Delivered]:
        request_id = REQUEST_ID.get()
        if request_id:
            header = (REQUEST_ID_HEADER, request_id.encode())
            records = [
                r if request_id_of(r.headers) else replace(r, headers=(*r.headers, header)) for r in records
            ]
        return await self._inner.publish(records)

    async def partitions(self, topic: str) -> list[int]:
        return await self._inner.partitions(topic)
