"""The webhooks' delivery loop: sends the queued `webhook_deliveries` (agents' status webhooks and
tenants' alert endpoints), signed (Standard Webhooks).

Every worker runs one; they share the queue through `FOR UPDATE SKIP LOCKED` claims, so an attempt is
sent by one of them only. Each attempt carries the delivery's own `webhook-id`, a fresh
`webhook-timestamp` and a `webhook-signature` made with the agent's (or the endpoint's) secret by the
reference implementation (`standardwebhooks`). A 2xx answer delivers it; anything else (another status, a
timeout, a refused address) is tried again after `Backoff`, until the delivery is a day old (counted from
its last redelivery): then it is marked failed and logged as an error. Only public addresses are reached,
as for tools (REVOS_TOOLS_ALLOW_PRIVATE).

An alert endpoint whose every attempt has failed for `DisablePolicy.after` (a day) is disabled: the sender
writes its `WebhookEndpointChanged` (actor "revos") with its audit entry to the log, and its pending
deliveries are given up on; the tenant enables it again with PATCH and redelivers what it missed.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import asyncpg
import httpx
from standardwebhooks import Webhook
from standardwebhooks.webhooks import EmptyWebhookSecretError

from infra.http_guard import AddressRefused
from pipeline.admin import audit
from pipeline.admin.audit_topic import AuditFirst, audit_outgoing
from pipeline.assistants.tool_secrets import SecretBox, SecretUnreadable, opened_webhook_secret
from pipeline.codec import Codec
from pipeline.publishing import Outgoing, Publisher
from pipeline.records import WebhookEndpointChanged
from pipeline.topics import ADMIN, tenant_key
from pipeline.validation import new_event_id
from pipeline.voice.status_webhooks import Backoff
from pipeline.webhooks.deliveries import DisablePolicy
from pipeline.webhooks.endpoints import secret_context
from projections import outbox
from projections.chat import assistants
from projections.voice import webhook_deliveries as queue
from projections.voice.webhook_deliveries import Claimed
from projections.webhooks import endpoints, health

log = logging.getLogger(__name__)

TIMEOUT = 10.0  # seconds an attempt may take, connecting included
POLL = 1.0  # seconds between looks at the queue when nothing was due
BATCH = 32  # attempts sent at once
USER_AGENT = "Revos-Webhooks/1"
SYSTEM_ACTOR = "revos"


class Undeliverable(Exception):
    """Nothing to sign with (the agent, its phone line or its status webhook is gone; the endpoint is
    gone or disabled). Never retried."""


@dataclass(frozen=True, slots=True)
class Disabler:
    """How the sender writes an endpoint's disabling to the log: through the outbox when acknowledgements
    rest on PostgreSQL, else straight to the broker (audit entry first)."""

    publisher: Publisher
    codec: Codec
    outbox: bool = False


@dataclass(slots=True)
class WebhookSender:
    pool: asyncpg.Pool
    box: SecretBox
    client: httpx.AsyncClient  # infra.http_guard.guarded_client: public addresses only
    backoff: Backoff = field(default_factory=Backoff)
    timeout: float = TIMEOUT
    poll: float = POLL
    batch: int = BATCH
    jitter: Callable[[], float] = random.random
    disabler: Disabler | None = None  # None: endpoints that keep failing are only logged
    disable: DisablePolicy = field(default_factory=DisablePolicy)

    async def run(self) -> None:
        """Deliver until cancelled; a database that does not answer is logged and tried again."""
        while True:
            try:
                sent = await self.once()
            except asyncio.CancelledError:
                raise
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("webhooks: the queue could not be read or written (%r)", exc)
                sent = 0
            except Exception:  # a bug: logged, and the loop carries on with the next claims
                log.exception("webhooks: a delivery round failed")
                sent = 0
            if sent < self.batch:
                await asyncio.sleep(self.poll)

    async def once(self) -> int:
        """Send every due delivery (up to `batch`) once; how many attempts were made."""
        # Held past the timeout: a claim is never taken by another sender while its attempt runs.
        claimed = await queue.claim(self.pool, datetime.now(UTC), self.batch, self.timeout + 30.0)
        await asyncio.gather(*(self._attempt(c) for c in claimed))
        return len(claimed)

    async def _attempt(self, c: Claimed) -> None:
        status: int | None = None
        try:
            hook, url = await self._signer(c)
            status = await self._post(c, hook, url)
            if 200 <= status < 300:
                await queue.delivered(self.pool, c, datetime.now(UTC), status)
                if c.endpoint_id is not None:
                    await health.succeeded(self.pool, c.tenant_id, c.endpoint_id, datetime.now(UTC))
                return
            error = f"the {_what(c)} answered HTTP {status}"
        except Undeliverable as exc:
            await self._give_up(c, None, str(exc))
            return
        except AddressRefused as exc:
            error = exc.message
        except (TimeoutError, httpx.TimeoutException):
            error = f"the {_what(c)} did not answer within {self.timeout:g} s"
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            error = f"the {_what(c)} could not be reached ({type(exc).__name__})"
        except SecretUnreadable as exc:  # the key may yet be restored
            error = exc.message
        await self._failed(c, status, error)
        if c.endpoint_id is not None:
            await self._endpoint_failed(c, c.endpoint_id, error)

    async def _signer(self, c: Claimed) -> tuple[Webhook, str]:
        """The signer with the secret the agent (or endpoint) has now, and the URL to post to."""
        if c.endpoint_id is not None:
            secret, url = await self._endpoint_secret(c, c.endpoint_id)
        else:
            secret, url = await self._agent_secret(c), c.url
        try:
            return Webhook(secret), url
        except (ValueError, RuntimeError, EmptyWebhookSecretError) as exc:  # binascii.Error is a ValueError
            raise Undeliverable(f"the {_what(c)}'s secret is not a Standard Webhooks key ({exc})") from exc

    async def _agent_secret(self, c: Claimed) -> str:
        agent = await assistants.load(self.pool, c.tenant_id, c.agent_id or "")
        line = agent.voice if agent is not None else None
        secret = (
            opened_webhook_secret(self.box, c.tenant_id, c.agent_id or "", line) if line is not None else None
        )
        if secret is None:
            raise Undeliverable("the agent no longer has a phone line with a status webhook")
        return secret

    async def _endpoint_secret(self, c: Claimed, endpoint_id: str) -> tuple[str, str]:
        """The endpoint's secret and its URL now (a tenant may have moved it since the event)."""
        found = await endpoints.find(self.pool, c.tenant_id, endpoint_id)
        if found is None:
            raise Undeliverable("the webhook endpoint was deleted")
        if not found.enabled:
            raise Undeliverable("the webhook endpoint is disabled")
        return self.box.open(found.secret, secret_context(c.tenant_id, endpoint_id)), found.url

    async def _endpoint_failed(self, c: Claimed, endpoint_id: str, error: str) -> None:
        now = datetime.now(UTC)
        streak = await health.failed(self.pool, c.tenant_id, endpoint_id, now)
        if streak.disabled or not self.disable.disables(streak.failing_since, streak.failures, now):
            return
        found = await endpoints.find(self.pool, c.tenant_id, endpoint_id)
        if found is None or not found.enabled:
            return
        reason = (
            f"every attempt failed since {streak.failing_since.isoformat()} ({streak.failures} attempts); "
            f"the last: {error}"
        )
        log.error("webhook endpoint %s of tenant %s disabled: %s", endpoint_id, c.tenant_id, reason)
        if self.disabler is None:
            return
        record = WebhookEndpointChanged(
            event_id=new_event_id(), tenant_id=c.tenant_id, endpoint_id=endpoint_id, action="disabled",
            url=found.url, event_types=list(found.event_types), enabled=False, secret=found.secret,
            actor=SYSTEM_ACTOR, occurred_at=now, description=found.description, disabled_reason=reason,
        )  # fmt: skip
        trail = audit.record(
            tenant_id=c.tenant_id, actor=SYSTEM_ACTOR, action="webhook.disable", target=f"webhook:{endpoint_id}",
            before={"enabled": True}, after={"enabled": False, "disabled_reason": reason}, request_id=None,
            now=now,
        )  # fmt: skip
        d = self.disabler
        out = [
            Outgoing(ADMIN, d.codec.encode(record), key=tenant_key(c.tenant_id)),
            audit_outgoing(d.codec, trail),
        ]
        async with self.pool.acquire() as conn, conn.transaction():
            if not await health.mark_disabled(conn, c.tenant_id, endpoint_id, now):
                return  # another sender disabled it
            # Before the mark commits: if publishing fails, the next failed attempt tries again.
            if d.outbox:
                await outbox.add(conn, out)
            else:
                await AuditFirst(d.publisher).publish(out)

    async def _post(self, c: Claimed, hook: Webhook, url: str) -> int:
        body = c.body.encode()
        at = datetime.now(UTC)
        headers = {
            "content-type": "application/json",
            "user-agent": USER_AGENT,
            "webhook-id": c.webhook_id,
            "webhook-timestamp": str(int(at.timestamp())),
            "webhook-signature": hook.sign(c.webhook_id, at, body),
        }
        async with asyncio.timeout(self.timeout):
            request = self.client.build_request("POST", url, content=body, headers=headers)
            response = await self.client.send(request, stream=True)  # the answer's body is not read
            await response.aclose()
            return response.status_code

    async def _failed(self, c: Claimed, status: int | None, error: str) -> None:
        now = datetime.now(UTC)
        if self.backoff.gives_up((now - c.since).total_seconds()):
            await self._give_up(c, status, error)
            return
        delay = self.backoff.delay(c.attempts, self.jitter())
        log.info(
            "%s %s attempt %d failed (%s); next in %.1f s", _what(c), c.webhook_id, c.attempts, error, delay
        )
        await queue.retry(self.pool, c, datetime.fromtimestamp(now.timestamp() + delay, UTC), status, error)

    async def _give_up(self, c: Claimed, status: int | None, error: str) -> None:
        owner = f"agent {c.agent_id}" if c.endpoint_id is None else f"endpoint {c.endpoint_id}"
        log.error(
            "%s %s (%s) of tenant %s, %s to %s given up after %d attempts: %s",
            _what(c), c.webhook_id, c.event_type, c.tenant_id, owner, c.url, c.attempts, error,
        )  # fmt: skip
        await queue.give_up(self.pool, c, datetime.now(UTC), status, error)


def _what(c: Claimed) -> str:
    return "status webhook" if c.endpoint_id is None else "webhook endpoint"
