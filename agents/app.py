"""The Faust application: the composition root of a worker process. Nothing connects at import time."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from typing import Any

import faust
import httpx

from agents import metrics, transport
from agents.admin import AdminProjection
from agents.audit import AuditProjection
from agents.billing import BillingProjection
from agents.chat import ChatProjection
from agents.dead_letters import DeadLetterProjection
from agents.relay import OutboxRelay
from agents.runner import Message, Projection, Runtime, process
from agents.scheduler import Scheduler
from agents.voice import VoiceProjection
from agents.webhooks import Disabler, WebhookSender
from infra.bootstrap import check_log
from infra.http_guard import guarded_client
from infra.kafka import KafkaPublisher
from infra.key_files import audit_key, secrets_key
from pipeline.admin.audit import Seal
from pipeline.assistants.tool_secrets import SecretBox
from pipeline.codec import default_codec
from pipeline.settings import Settings
from pipeline.topics import ADMIN, AUDIT, BILLING, CHAT, DEAD_LETTER_TOPICS, VOICE
from pipeline.voice.status_webhooks import Backoff
from pipeline.webhooks.deliveries import DisablePolicy
from projections import outbox
from projections.db import create_pool

log = logging.getLogger(__name__)

# The topics each stream processor (its `consumer` in stream_offsets) reads: their lag is measured.
CONSUMED = {
    "billing": (BILLING,),
    "admin": (ADMIN,),
    "audit": (AUDIT,),
    "chat": (CHAT,),
    "voice": (VOICE,),
    "dead_letters": tuple(DEAD_LETTER_TOPICS),
}

BATCH_MAX = 2000
BATCH_WITHIN = 0.02  # seconds a partial batch waits for more records


class RuntimeHolder:
    """Opens the worker's pool and publisher once, on first use inside the running event loop."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._runtime: Runtime | None = None
        self._lock = asyncio.Lock()
        self._background: list[asyncio.Task[None]] = []
        self._webhooks_client: httpx.AsyncClient | None = None

    async def get(self) -> Runtime:
        async with self._lock:
            if self._runtime is None:
                publisher = KafkaPublisher(self._settings.bootstrap_servers)
                await publisher.start()
                # One connection per stream processor (billing, admin, audit, chat, voice, dead letters)
                # and three more for billing's partitions side by side (runner.SIDE_BY_SIDE), one for the
                # scheduler, one for the outbox relay, one for the status webhooks' sender.
                pool = await create_pool(self._settings.dsn, min_size=2, max_size=12)
                self._runtime = Runtime(
                    pool=pool,
                    publisher=publisher,
                    codec=default_codec(),
                    outbox=self._settings.uses_outbox,
                    outbox_origin=await outbox.origin(pool),
                )
            return self._runtime

    async def start_background(self) -> None:
        """The scheduler, the status webhooks' sender, and the outbox relay when acknowledgements rest
        on PostgreSQL."""
        runtime = await self.get()
        self._background.append(
            asyncio.create_task(
                Scheduler(runtime.pool, runtime.publisher, runtime.codec, outbox=runtime.outbox).run()
            )
        )
        # The tenants' URLs get a client of their own that reaches public addresses only, as tools do.
        self._webhooks_client = guarded_client(
            allow_private=self._settings.tools_allow_private, what="the webhook"
        )
        box = SecretBox(secrets_key(self._settings))
        s = self._settings
        sender = WebhookSender(
            runtime.pool,
            box,
            self._webhooks_client,
            backoff=Backoff(
                first=s.webhook_retry_first_seconds,
                cap=s.webhook_retry_cap_seconds,
                give_up_after=s.webhook_give_up_seconds,
            ),
            timeout=s.webhook_timeout_seconds,
            disabler=Disabler(runtime.publisher, runtime.codec, outbox=runtime.outbox),
            disable=DisablePolicy(after=s.webhook_disable_seconds, min_failures=s.webhook_disable_failures),
        )
        self._background.append(asyncio.create_task(sender.run()))
        if runtime.outbox:
            self._background.append(asyncio.create_task(OutboxRelay(runtime.pool, runtime.publisher).run()))
        self._background.append(asyncio.create_task(_watch_log(self._settings, runtime.pool)))
        if s.worker_metrics_port:
            lag = metrics.measure_lag(runtime.pool, s.bootstrap_servers, CONSUMED)
            self._background.append(asyncio.create_task(lag))

    async def close(self) -> None:
        for task in self._background:
            task.cancel()  # each holds a pooled connection, which closing the pool waits for
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._background.clear()
        if self._webhooks_client is not None:
            await self._webhooks_client.aclose()
            self._webhooks_client = None
        if self._runtime is not None:
            await self._runtime.pool.close()
            await self._runtime.publisher.stop()  # type: ignore[attr-defined]
            self._runtime = None


LOG_WATCH_EVERY = 2.0  # seconds between looks at whether the broker's log is still the one we read


async def _watch_log(settings: Settings, pool: Any) -> None:
    """Notice a broker that restarted empty under a running worker, and recover (see `check_log`)."""
    while True:
        await asyncio.sleep(LOG_WATCH_EVERY)
        try:
            await check_log(settings, pool)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the broker or database is down: the next look tells
            log.debug("could not check the broker's log: %r", exc)


def _raw_topic(app: faust.App, *names: str) -> Any:
    return app.topic(*names, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw")


def build_app(settings: Settings, *, worker_id: int = 0) -> faust.App:
    """A worker app; several started against one broker share partitions as one consumer group."""
    app = faust.App(
        settings.consumer_group,
        broker=f"{transport.SCHEME}://{settings.bootstrap_servers}",
        datadir=str(settings.home / "worker" / str(worker_id)),
        web_enabled=False,
        topic_partitions=settings.partitions,
        topic_allow_declare=False,
        topic_disable_leader=True,
        consumer_auto_offset_reset="earliest",
        broker_commit_interval=1.0,
        # Short sessions so a killed worker's partitions move to the survivors within seconds.
        broker_session_timeout=6.0,
        broker_heartbeat_interval=1.0,
        broker_rebalance_timeout=8.0,
        producer_acks=-1,
        stream_buffer_maxsize=8192,
        broker_max_poll_records=2000,
        store="memory://",
    )
    holder = RuntimeHolder(settings)
    codec = default_codec()

    def attach(name: str, topic: Any, projection: Projection) -> None:
        async def run(stream: Any) -> None:
            runtime = await holder.get()
            async for events in stream.take_events(BATCH_MAX, within=BATCH_WITHIN):
                try:
                    await process(runtime, projection, [Message.from_faust(e) for e in events])
                except asyncio.CancelledError:
                    raise
                except BaseException:
                    # `process` handles every record's failure; reaching here is a bug in the runner.
                    # Returning would let Faust acknowledge the batch and lose it, so stop the process
                    # before it commits: the batch is redelivered to whichever worker runs next.
                    log.critical(
                        "stream processor %s failed outside its error handling; exiting", name, exc_info=True
                    )
                    os._exit(70)

        app.agent(topic, name=name)(run)

    attach("billing", _raw_topic(app, BILLING), BillingProjection(codec))
    attach("admin", _raw_topic(app, ADMIN), AdminProjection(codec))
    seal = Seal(audit_key(settings))
    attach("audit", _raw_topic(app, AUDIT), AuditProjection(codec, seal, settings.audit_heads))
    attach("chat", _raw_topic(app, CHAT), ChatProjection(codec))
    attach("voice", _raw_topic(app, VOICE), VoiceProjection(codec, base_url=settings.public_url or ""))
    attach("dead_letters", _raw_topic(app, *DEAD_LETTER_TOPICS), DeadLetterProjection(codec))

    @app.task  # type: ignore[misc]
    async def schedule() -> None:
        await holder.start_background()

    @app.on_before_shutdown.connect  # type: ignore[misc]
    async def _close_runtime(app: faust.App, **kwargs: Any) -> None:
        await holder.close()  # the consumer has stopped: nothing uses the pool or publisher any more

    return app
