"""The status webhooks' delivery loop: sends the queued `webhook_deliveries`, signed (Standard Webhooks).

Every worker runs one; they share the queue through `FOR UPDATE SKIP LOCKED` claims, so an attempt is
sent by one of them only. Each attempt carries the delivery's own `webhook-id`, a fresh
`webhook-timestamp` and a `webhook-signature` made with the agent's secret by the reference
implementation (`standardwebhooks`). A 2xx answer delivers it; anything else (another status, a timeout,
a refused address) is tried again after `Backoff`, until the delivery is a day old: then it is marked
failed and logged as an error. Only public addresses are reached, as for tools (REVOS_TOOLS_ALLOW_PRIVATE).
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
from pipeline.assistants.tool_secrets import SecretBox, SecretUnreadable, opened_webhook_secret
from pipeline.voice.status_webhooks import Backoff
from projections.chat import assistants
from projections.voice import webhook_deliveries as queue
from projections.voice.webhook_deliveries import Claimed

log = logging.getLogger(__name__)

TIMEOUT = 10.0  # seconds an attempt may take, connecting included
POLL = 1.0  # seconds between looks at the queue when nothing was due
BATCH = 32  # attempts sent at once
USER_AGENT = "Revos-Webhooks/1"


class Undeliverable(Exception):
    """Nothing to sign with: the agent, its phone line or its status webhook is gone. Never retried."""


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

    async def run(self) -> None:
        """Deliver until cancelled; a database that does not answer is logged and tried again."""
        while True:
            try:
                sent = await self.once()
            except asyncio.CancelledError:
                raise
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("status webhooks: the queue could not be read or written (%r)", exc)
                sent = 0
            except Exception:  # a bug: logged, and the loop carries on with the next claims
                log.exception("status webhooks: a delivery round failed")
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
            status = await self._post(c, await self._signer(c))
            if 200 <= status < 300:
                await queue.delivered(self.pool, c, datetime.now(UTC), status)
                return
            error = f"the status webhook answered HTTP {status}"
        except Undeliverable as exc:
            await self._give_up(c, None, str(exc))
            return
        except AddressRefused as exc:
            error = exc.message
        except (TimeoutError, httpx.TimeoutException):
            error = f"the status webhook did not answer within {self.timeout:g} s"
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            error = f"the status webhook could not be reached ({type(exc).__name__})"
        except SecretUnreadable as exc:  # the key may yet be restored
            error = exc.message
        await self._failed(c, status, error)

    async def _signer(self, c: Claimed) -> Webhook:
        """The agent's signer, with the secret it has now (a delivery is signed as its receiver expects)."""
        agent = await assistants.load(self.pool, c.tenant_id, c.agent_id)
        line = agent.voice if agent is not None else None
        secret = opened_webhook_secret(self.box, c.tenant_id, c.agent_id, line) if line is not None else None
        if secret is None:
            raise Undeliverable("the agent no longer has a phone line with a status webhook")
        try:
            return Webhook(secret)
        except (ValueError, RuntimeError, EmptyWebhookSecretError) as exc:  # binascii.Error is a ValueError
            raise Undeliverable(
                f"the status webhook's secret is not a Standard Webhooks key ({exc})"
            ) from exc

    async def _post(self, c: Claimed, hook: Webhook) -> int:
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
            request = self.client.build_request("POST", c.url, content=body, headers=headers)
            response = await self.client.send(request, stream=True)  # the answer's body is not read
            await response.aclose()
            return response.status_code

    async def _failed(self, c: Claimed, status: int | None, error: str) -> None:
        now = datetime.now(UTC)
        if self.backoff.gives_up((now - c.created_at).total_seconds()):
            await self._give_up(c, status, error)
            return
        delay = self.backoff.delay(c.attempts, self.jitter())
        log.info(
            "status webhook %s attempt %d failed (%s); next in %.1f s", c.webhook_id, c.attempts, error, delay
        )
        await queue.retry(self.pool, c, datetime.fromtimestamp(now.timestamp() + delay, UTC), status, error)

    async def _give_up(self, c: Claimed, status: int | None, error: str) -> None:
        log.error(
            "status webhook %s (%s) of tenant %s, agent %s to %s given up after %d attempts: %s",
            c.webhook_id, c.event_type, c.tenant_id, c.agent_id, c.url, c.attempts, error,
        )  # fmt: skip
        await queue.give_up(self.pool, c, datetime.now(UTC), status, error)
