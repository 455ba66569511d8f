"""WS /v1/chat?token=...: the chat protocol of docs/chat.md.

A socket reads frames in one loop, writes from its outbox in another and pings in a third; a turn
runs as its own task, so the reader notices a disconnect at once and the turn can store what was
streamed as `interrupted`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime
from typing import Any

from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from gateway.chat.conversations import (
    CLOSE,
    Conversation,
    ConversationElsewhere,
    ConversationNotFound,
    Listener,
)
from gateway.chat.runtime import ChatRuntime
from gateway.chat.sessions import may_embed, public_agent
from gateway.chat.turns import Turn
from gateway.responses import dumps
from gateway.services import Services
from pipeline import chat_frames, widget_tokens
from pipeline.chat_frames import FrameError, Hello, Ping, Send
from pipeline.errors import is_retryable
from pipeline.rate_limits import retry_seconds
from projections import assistants

log = logging.getLogger(__name__)

SESSION_CLOSE = 4401  # the token is bad or expired: get a new one
ORIGIN_CLOSE = 4403  # this page may not use this agent (or the agent is gone)
IDLE_CLOSE = 4408  # nothing heard from the peer for too long
ELSEWHERE_CLOSE = 4409  # another gateway process holds the conversation: reconnect (and land there)
DRAINING_CLOSE = 1013  # "try again later": this gateway is stopping; the widget reconnects with backoff
RATE_CLOSE = 4429  # too many sockets opened from this address: reconnect after `retry_after` seconds


class ChatSocket:
    """One open, authorized socket: a visitor of one agent on one origin."""

    def __init__(
        self, svc: Services, websocket: WebSocket, claims: widget_tokens.TokenClaims, agent: dict[str, Any]
    ) -> None:
        self._svc = svc
        self._chat: ChatRuntime = svc.chat
        self._ws = websocket
        self._claims = claims
        self._agent = agent
        self._listener = Listener()
        self._gone = asyncio.Event()
        self._conversation: Conversation | None = None
        self._turn: asyncio.Task[None] | None = None
        self._address = websocket.client.host if websocket.client else "unknown"
        self._idle = False

    async def run(self) -> None:
        writer = asyncio.create_task(self._write())
        pinger = asyncio.create_task(self._ping())
        try:
            await self._read()
        finally:
            self._gone.set()
            if self._turn is not None:
                await asyncio.wait({self._turn})  # it stores what was streamed as interrupted
            if self._conversation is not None:
                await self._chat.hub.detach(self._conversation, self._listener)
            pinger.cancel()
            writer.cancel()
            await asyncio.wait({pinger, writer})
            if WebSocketState.DISCONNECTED not in (self._ws.client_state, self._ws.application_state):
                with contextlib.suppress(Exception):  # the peer may be gone already
                    await self._ws.close(IDLE_CLOSE if self._idle else 1000)

    async def _read(self) -> None:
        while True:
            try:
                async with asyncio.timeout(self._chat.idle_seconds):
                    message = await self._ws.receive()
            except TimeoutError:
                self._idle = True
                return
            if message["type"] == "websocket.disconnect":
                return
            text = message.get("text")
            if text is None:
                self._listener.push(chat_frames.error("invalid_frame", "frames are JSON text, not binary"))
                continue
            try:
                frame = chat_frames.parse(text)
            except FrameError as exc:
                self._listener.push(chat_frames.error(exc.code, exc.message))
                continue
            if isinstance(frame, Hello):
                await self._hello(frame)
            elif isinstance(frame, Send):
                await self._send(frame)
            elif isinstance(frame, Ping):
                self._listener.push(chat_frames.PONG)
            # A pong needs no answer: hearing anything at all keeps the socket open.

    async def _write(self) -> None:
        try:
            while True:
                frame = await self._listener.outbox.get()
                if frame is CLOSE:
                    await self._ws.close(ELSEWHERE_CLOSE)
                    return
                await self._ws.send_text(dumps(frame).decode())
        except (WebSocketDisconnect, RuntimeError, OSError):
            self._gone.set()  # the reader sees the disconnect too and winds the socket up

    async def _ping(self) -> None:
        while True:
            await asyncio.sleep(self._chat.ping_seconds)
            self._listener.push(chat_frames.PING)

    async def _hello(self, hello: Hello) -> None:
        if self._conversation is not None:
            self._listener.push(chat_frames.error("invalid_frame", "this socket already has a conversation"))
            return
        hub, c = self._chat.hub, self._claims
        try:
            if hello.conversation_id is None:
                conversation = await hub.start(c.tenant_id, c.agent_id, c.visitor_id)
            else:
                conversation = await hub.find(c.tenant_id, hello.conversation_id, c.agent_id, c.visitor_id)
            await hub.attach(conversation, self._listener, hello.last_seq or 0, self._agent)
        except ConversationNotFound as exc:
            self._listener.push(chat_frames.error(exc.code, "no such conversation; say hello without an id"))
            return
        except ConversationElsewhere as exc:
            self._listener.close(chat_frames.error(exc.code, f"{exc.message}; reconnect shortly"))
            return
        except Exception as exc:
            if not is_retryable(exc):
                raise
            log.warning("hello failed: %r", exc)
            self._listener.push(
                chat_frames.error("unavailable", "the chat is unavailable; reconnect shortly")
            )
            return
        self._conversation = conversation

    async def _send(self, send: Send) -> None:
        """Counts the message against the shared rate limits, then decides without awaiting again, so
        two sends can never both start a turn."""
        if self._answered(send):
            return
        c = self._claims
        try:
            allowed = await self._svc.limits.message(c.tenant_id, c.agent_id, c.visitor_id, self._address)
        except Exception as exc:
            if not is_retryable(exc):
                raise
            log.warning("rate limit check failed: %r", exc)
            self._listener.push(chat_frames.error("unavailable", "the chat is unavailable; send it again"))
            return
        if self._answered(send):  # answered meanwhile (another socket of the conversation)
            return
        conversation = self._conversation
        assert conversation is not None
        if not allowed.granted:
            wait = retry_seconds(allowed)
            self._listener.push(
                chat_frames.error("rate_limited", f"too many messages; retry in {wait} s", wait)
            )
            return
        if conversation.turn_running:
            self._listener.push(
                chat_frames.error("busy", "a reply is still streaming; send again when it ends")
            )
            return
        conversation.turn_running = True
        turn = Turn(self._svc, conversation, self._claims, self._listener, self._gone)
        self._turn = asyncio.create_task(turn.run(send))

    def _answered(self, send: Send) -> bool:
        """True when `send` was answered without a turn: there is no conversation yet, or the message
        was processed already."""
        conversation = self._conversation
        if conversation is None:
            self._listener.push(chat_frames.error("invalid_frame", "say hello before sending"))
            return True
        if conversation.transcript.seq_of(send.client_message_id) is None:
            return False
        # Processed already: only what this socket has not been sent yet (usually nothing).
        for record in conversation.transcript.turn_after(send.client_message_id, self._listener.sent_through):
            self._listener.push_message(record)
        return True


async def _refuse(
    websocket: WebSocket, code: str, message: str, close_code: int, retry_after: int | None = None
) -> None:
    await websocket.send_text(dumps(chat_frames.error(code, message, retry_after)).decode())
    await websocket.close(close_code)


async def chat_socket(websocket: WebSocket) -> None:
    """Checks the token, its origin and the agent's current allowlist, then speaks the protocol."""
    svc: Services = websocket.app.state.services
    await websocket.accept()
    if getattr(websocket.app.state, "draining", False):
        await _refuse(websocket, "draining", "the service is restarting; reconnect shortly", DRAINING_CLOSE)
        return
    try:
        allowed = await svc.limits.connect(websocket.client.host if websocket.client else None)
    except Exception as exc:
        if not is_retryable(exc):
            raise
        log.warning("rate limit check failed: %r", exc)
        await _refuse(websocket, "unavailable", "the chat is unavailable; reconnect shortly", DRAINING_CLOSE)
        return
    if not allowed.granted:
        wait = retry_seconds(allowed)
        message = f"too many connections from this address; retry in {wait} s"
        await _refuse(websocket, "rate_limited", message, RATE_CLOSE, wait)
        return
    try:
        claims = widget_tokens.verify(
            svc.chat.secret, websocket.query_params.get("token", ""), datetime.now(UTC)
        )
    except widget_tokens.TokenError as exc:
        await _refuse(websocket, exc.code, exc.message, SESSION_CLOSE)
        return
    origin = websocket.headers.get("origin")
    if origin != claims.origin:
        await _refuse(
            websocket,
            "origin_not_allowed",
            f"this session belongs to {claims.origin}, not {origin}",
            ORIGIN_CLOSE,
        )
        return
    assistant = await assistants.load(svc.pool, claims.tenant_id, claims.agent_id)
    if assistant is None:
        await _refuse(websocket, "agent_not_found", "this agent no longer exists", ORIGIN_CLOSE)
        return
    if not may_embed(origin, assistant, websocket):
        await _refuse(
            websocket,
            "origin_not_allowed",
            f"{origin} is no longer in this agent's allowed domains",
            ORIGIN_CLOSE,
        )
        return
    await ChatSocket(svc, websocket, claims, public_agent(assistant)).run()


ROUTE = WebSocketRoute("/v1/chat", chat_socket)
