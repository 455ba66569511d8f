"""The gateway's composition root: routes, error handlers, and the lifespan that opens pool and producer."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
from prometheus_client import CONTENT_TYPE_LATEST, Gauge, Histogram, generate_latest
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route, WebSocketRoute

from gateway.admin import audit, dead_letters, keys, webhooks
from gateway.assistants import agents, conversations, sightings, tools
from gateway.billing import analytics, burn_tables, corrections, credits, customers, entitlements, usage
from gateway.chat import client_errors, pages, socket, widget
from gateway.chat.providers import provider_from_settings
from gateway.chat.runtime import chat_runtime
from gateway.dashboard import routes as dashboard
from gateway.http.auth import Authenticator
from gateway.http.errors import error_response, handle_http_error, handle_revos_error, handle_unexpected
from gateway.http.limits import GatewayLimits
from gateway.http.proxy import ForwardedHeaders
from gateway.http.responses import json_response
from gateway.http.tracing import TraceRequests
from gateway.openapi import OPENAPI
from gateway.services import Services, services
from gateway.voice import calls as voice_calls
from gateway.voice import relay as voice_relay
from gateway.voice import twilio as voice_twilio
from gateway.voice import webhooks as voice_webhooks
from infra import tracing
from infra.http_guard import guarded_client
from infra.kafka import KafkaPublisher
from infra.key_files import secrets_key
from pipeline import log_context
from pipeline.admin.audit_topic import AuditFirst
from pipeline.assistants.tool_secrets import SecretBox
from pipeline.codec import default_codec
from pipeline.errors import RevosError
from pipeline.publishing import Publisher
from pipeline.settings import Settings
from pipeline.topics import BILLING
from pipeline.voice.calls import drop_rate
from projections.db import create_pool
from projections.outbox import OutboxPublisher
from projections.rate_limits import PostgresLimiter
from projections.voice import reads as voice_reads

log = logging.getLogger(__name__)

LATENCY = Histogram("revos_http_request_seconds", "Gateway request latency", ["route", "status"])
UNAPPLIED = Gauge("revos_outbox_unapplied_records", "Records acknowledged and not yet applied (the outbox)")
LOG_LOSSES = Gauge(
    "revos_broker_log_losses",
    "Times the broker's log was found new while projections held offsets of an older one",
)
CALLS_ENDED = Gauge("revos_calls_ended", "Voice calls that have ended, by end reason", ["reason"])
CALL_DROP_RATE = Gauge(
    "revos_call_drop_rate",
    "Share of ended voice calls that dropped (dropped, provider_down, failed); 0 before any",
)
DELIVERY_FACTS = "SELECT (SELECT count(*) FROM outbox WHERE NOT regenerable) AS unapplied, (SELECT count(*) FROM broker_log_losses) AS losses"


# Methods that only read: still answered while the gateway drains before a stop.
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
DRAIN_RETRY_AFTER = "5"
# Probes and scrapes, polled every few seconds: no access line for them.
QUIET_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})


def _holds_nul(request: Request) -> bool:
    return "\x00" in request.scope["path"] or any(
        "\x00" in key or "\x00" in value for key, value in request.query_params.multi_items()
    )


class RequestContext(BaseHTTPMiddleware):
    """Gives every request an id (echoed as X-Request-Id) and records its latency; while the gateway
    drains before a stop, refuses new writes with 503 and Retry-After (clients resend them elsewhere or
    after the restart, and ids make the resend harmless)."""

    async def dispatch(
        self, request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        request.state.request_id = request.headers.get("x-request-id") or "req_" + uuid.uuid4().hex[:20]
        # The request's log lines (and the records it produces) carry its id; the app runs in a task
        # that copies this context.
        log_context.REQUEST_ID.set(request.state.request_id)
        started = time.perf_counter()
        if request.method not in READ_METHODS and getattr(request.app.state, "draining", False):
            response = error_response(
                503, "draining", "the gateway is stopping; retry shortly", {"Retry-After": DRAIN_RETRY_AFTER}
            )
        elif _holds_nul(request):  # PostgreSQL text cannot hold NUL: no path or query value needs one
            response = error_response(
                400, "invalid_characters", "the request's path or query holds a NUL character"
            )
        else:
            response = await call_next(request)
        response.headers["X-Request-Id"] = request.state.request_id
        route = request.scope.get("route")
        took = time.perf_counter() - started
        LATENCY.labels(getattr(route, "path", "unmatched"), str(response.status_code)).observe(took)
        # The request's line in `revos logs --request-id` (its path without the query: it may hold a token).
        if request.url.path not in QUIET_PATHS:
            with log_context.bound(tenant_id=getattr(request.state, "tenant_id", None)):
                log.info(
                    "%s %s %d in %.1f ms", request.method, request.url.path, response.status_code, took * 1e3
                )
        return response


async def healthz(request: Request) -> Response:
    return json_response({"status": "ok"})


async def readyz(request: Request) -> Response:
    svc = services(request)
    problems = {}
    try:
        await svc.pool.fetchval("SELECT 1")
    except Exception as exc:  # any failure here means "not ready", never a 500
        problems["database"] = type(exc).__name__
    try:
        await svc.publisher.partitions(BILLING)
    except RevosError as exc:
        problems["broker"] = exc.code
    if problems:
        return error_response(
            503, "not_ready", f"not ready: {', '.join(sorted(problems))}", {"Retry-After": "1"}
        )
    return json_response({"status": "ready"})


async def metrics(request: Request) -> Response:
    with contextlib.suppress(Exception):  # a database that does not answer leaves the last values
        async with asyncio.timeout(1.0):
            row = await services(request).pool.fetchrow(DELIVERY_FACTS)
        UNAPPLIED.set(row["unapplied"])
        LOG_LOSSES.set(row["losses"])
    with contextlib.suppress(Exception):
        async with asyncio.timeout(1.0):
            endings = await voice_reads.endings(services(request).pool)
        for reason, count in endings.items():
            CALLS_ENDED.labels(reason).set(count)
        CALL_DROP_RATE.set(drop_rate(endings) or 0.0)
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


async def openapi(request: Request) -> Response:
    return json_response(OPENAPI)


ROUTES: list[BaseRoute] = [
    Route("/healthz", healthz),
    Route("/readyz", readyz),
    Route("/metrics", metrics),
    Route("/openapi.json", openapi),
    Route("/v1/events", usage.post_events, methods=["POST"]),
    Route("/v1/burn-tables", burn_tables.list_burn_tables, methods=["GET"]),
    Route("/v1/burn-tables/{name}", burn_tables.put_burn_table, methods=["PUT"]),
    Route("/v1/burn-tables/{name}", burn_tables.get_burn_table, methods=["GET"]),
    Route("/v1/burn-tables/{name}/versions", burn_tables.list_versions, methods=["GET"]),
    Route("/v1/burn-tables/{name}/preview", burn_tables.preview, methods=["POST"]),
    Route("/v1/customers", customers.list_customers, methods=["GET"]),
    Route("/v1/customers/{customer}", customers.put_customer, methods=["PUT"]),
    Route("/v1/customers/{customer}", customers.get_customer, methods=["GET"]),
    Route("/v1/customers/{customer}/grants", credits.post_grant, methods=["POST"]),
    Route("/v1/customers/{customer}/balance", credits.get_balance, methods=["GET"]),
    Route("/v1/customers/{customer}/charges", credits.get_charges, methods=["GET"]),
    Route("/v1/audit", audit.get_audit, methods=["GET"]),
    Route("/v1/dead-letters", dead_letters.list_dead_letters, methods=["GET"]),
    Route("/v1/dead-letters/{dead_letter_id}", dead_letters.get_dead_letter, methods=["GET"]),
    Route("/v1/dead-letters/{dead_letter_id}/replay", dead_letters.replay, methods=["POST"]),
    Route("/v1/webhooks", webhooks.post_webhook, methods=["POST"]),
    Route("/v1/webhooks", webhooks.list_webhooks, methods=["GET"]),
    Route("/v1/webhooks/{endpoint_id}", webhooks.get_webhook, methods=["GET"]),
    Route("/v1/webhooks/{endpoint_id}", webhooks.patch_webhook, methods=["PATCH"]),
    Route("/v1/webhooks/{endpoint_id}", webhooks.delete_webhook, methods=["DELETE"]),
    Route("/v1/webhooks/{endpoint_id}/rotate-secret", webhooks.rotate_secret, methods=["POST"]),
    Route("/v1/webhooks/{endpoint_id}/deliveries", webhooks.list_deliveries, methods=["GET"]),
    Route(
        "/v1/webhooks/{endpoint_id}/deliveries/{delivery_id}/redeliver", webhooks.redeliver, methods=["POST"]
    ),
    Route("/v1/keys", keys.list_keys, methods=["GET"]),
    Route("/v1/keys", keys.post_key, methods=["POST"]),
    Route("/v1/keys/{key_id}/revoke", keys.revoke_key, methods=["POST"]),
    Route("/v1/keys/{key_id}/rotate", keys.rotate_key, methods=["POST"]),
    Route("/v1/customers/{customer}/entitlements/{feature}", entitlements.put_entitlement, methods=["PUT"]),
    Route("/v1/customers/{customer}/entitlements", entitlements.get_entitlements, methods=["GET"]),
    Route("/v1/check", entitlements.post_check, methods=["POST"]),
    Route("/v1/holds/{hold_id}", entitlements.delete_hold, methods=["DELETE"]),
    Route("/v1/customers/{customer}/grants/{grant_id}/void", credits.post_grant_void, methods=["POST"]),
    Route("/v1/customers/{customer}/ledger", credits.get_ledger, methods=["GET"]),
    Route("/v1/customers/{customer}/alerts", credits.get_alerts, methods=["GET"]),
    Route("/v1/usage", analytics.get_usage, methods=["GET"]),
    Route("/v1/usage/export", analytics.export_usage, methods=["GET"]),
    Route("/v1/charges/export", analytics.export_charges, methods=["GET"]),
    Route("/v1/ledger/export", analytics.export_ledger, methods=["GET"]),
    Route("/v1/events/{event_id:path}/void", corrections.void_event, methods=["POST"]),
    Route("/v1/events/{event_id:path}/amend", corrections.amend_event, methods=["POST"]),
    Route("/v1/widget/sessions", widget.post_session, methods=["POST", "OPTIONS"]),
    Route("/v1/client-errors", client_errors.post_client_error, methods=["POST"]),
    socket.ROUTE,
    Route("/v1/agents", agents.post_agent, methods=["POST"]),
    Route("/v1/agents", agents.list_agents, methods=["GET"]),
    Route("/v1/agents/{agent_id}", agents.get_agent, methods=["GET"]),
    Route("/v1/agents/{agent_id}", agents.patch_agent, methods=["PATCH"]),
    Route("/v1/agents/{agent_id}", agents.delete_agent, methods=["DELETE"]),
    Route("/v1/agents/{agent_id}/sightings", sightings.get_sightings, methods=["GET"]),
    Route("/v1/agents/{agent_id}/test-sessions", widget.post_test_session, methods=["POST"]),
    Route("/v1/agents/{agent_id}/tools/{name}/test", tools.test_tool, methods=["POST"]),
    Route("/v1/conversations", conversations.list_conversations, methods=["GET"]),
    # Before /{conversation_id}, which would otherwise take "export" for an id.
    Route("/v1/conversations/export", conversations.export_conversations, methods=["GET"]),
    Route("/v1/conversations/{conversation_id}", conversations.get_conversation, methods=["GET"]),
    Route("/widget.js", pages.widget_js, methods=["GET"]),
    Route("/chat/{agent_id}", pages.chat_page, methods=["GET"]),
    Route("/v1/voice/twilio", voice_twilio.put_account, methods=["PUT"]),
    Route("/v1/voice/twilio", voice_twilio.get_account, methods=["GET"]),
    Route("/v1/voice/twilio/incoming", voice_webhooks.incoming, methods=["POST"]),
    Route("/v1/voice/twilio/ended", voice_webhooks.ended, methods=["POST"]),
    Route("/v1/voice/twilio/status", voice_webhooks.status, methods=["POST"]),
    WebSocketRoute("/v1/voice/relay", voice_relay.relay),
    Route("/v1/calls", voice_calls.list_calls, methods=["GET"]),
    # Before /{call_sid}, which would otherwise take "export" for a call.
    Route("/v1/calls/export", voice_calls.export_calls, methods=["GET"]),
    Route("/v1/calls/{call_sid}", voice_calls.get_call, methods=["GET"]),
    *dashboard.ROUTES,
]


def _start_draining(app: Starlette) -> None:
    if not app.state.draining:
        log.info("draining: new writes are refused with 503 until the gateway stops")
    app.state.draining = True


def create_app(
    settings: Settings,
    *,
    publisher: Publisher | None = None,
    write_timeout: float = 10.0,
    acquire_timeout: float = 5.0,
) -> Starlette:
    """The ASGI app; `publisher` may be injected (tests), otherwise one is opened on startup.

    A request that waits `acquire_timeout` seconds for a database connection is answered 503.
    """

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        pool = await create_pool(settings.dsn, min_size=2, max_size=20, acquire_timeout=acquire_timeout)
        own = publisher is None
        broker = KafkaPublisher(settings.bootstrap_servers)
        pub = publisher or log_context.RequestTagging(
            OutboxPublisher(pool, broker) if settings.uses_outbox else AuditFirst(broker)
        )
        if tracing.enabled():
            pub = tracing.TracedPublisher(pub)  # records carry the request's trace context to the worker
        # The model provider and the tools never share a client: a tool must not see the provider's
        # connections or cookies, and the tools' client refuses non-public addresses.
        model_http = httpx.AsyncClient()
        http = guarded_client(allow_private=settings.tools_allow_private)
        provider = provider_from_settings(settings, client=model_http)
        app.state.draining = False
        loop = asyncio.get_running_loop()
        # SIGUSR1: the launcher is stopping the stack; refuse new writes while the workers drain.
        loop.add_signal_handler(signal.SIGUSR1, _start_draining, app)
        limiter = PostgresLimiter(pool)
        try:
            if own:
                await broker.start()
            app.state.services = Services(
                settings=settings,
                pool=pool,
                publisher=pub,
                codec=default_codec(),
                authenticate=Authenticator(pool, settings.auth_cache_seconds),
                provider=provider,
                http=http,
                chat=chat_runtime(settings, pool),
                secrets=SecretBox(secrets_key(settings)),
                limits=GatewayLimits(limiter, settings),
                write_timeout=write_timeout,
            )
            services = app.state.services
            background = {
                asyncio.create_task(services.chat.hub.keep_leases()),
                asyncio.create_task(services.authenticate.listen(settings.dsn)),
                asyncio.create_task(limiter.keep_swept()),
                asyncio.create_task(services.chat.sightings.keep_writing()),
            }
            log.info("gateway ready on http://%s:%d", settings.gateway_host, settings.gateway_port)
            try:
                yield
            finally:
                for task in background:
                    task.cancel()
                await asyncio.wait(background)
                await services.chat.sightings.close()
                await services.chat.hub.close()  # best effort: leases lapse on their own
        finally:
            loop.remove_signal_handler(signal.SIGUSR1)
            if own:
                await broker.stop()
            await http.aclose()
            await model_http.aclose()
            await pool.close()

    return Starlette(
        routes=ROUTES,
        # Outermost: everything below sees the client and scheme the trusted proxies reported.
        middleware=[
            Middleware(ForwardedHeaders, trusted=settings.trusted_proxies),
            *([Middleware(TraceRequests)] if tracing.enabled() else []),
            Middleware(RequestContext),
        ],
        exception_handlers={
            RevosError: handle_revos_error,
            HTTPException: handle_http_error,
            Exception: handle_unexpected,
        },
        lifespan=lifespan,
    )
