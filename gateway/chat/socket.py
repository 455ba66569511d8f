"""WS /v1/chat?token=...: the chat protocol of docs/chat.md.

A socket reads frames in one loop, writes from its outbox in another and pings in a third; a turn
runs as its own task, so the reader notices a disconnect at once and the turn can store what was
streamed as `interrupted`. Whatever ends a socket (the peer, silence, a flood, a client that does not
read, a token that expired, an origin no longer allowed) is an `Ending`: its close code and reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import UTC, datetime
from typing import Any

from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from gateway.chat.endings import (
    BACKLOG_CLOSE,
    DRAINING_CLOSE,
    ELSEWHERE,
    EXPIRED,
    FLOOD_CLOSE,
    FLOODED,
    IDLE,
    LAST_FRAME_SECONDS,
    NORMAL,
    NOT_READING,
    ORIGIN_CLOSE,
    RATE_CLOSE,
    SESSION_CLOSE,
    Ending,
)
from gateway.chat.hub import Conversation, ConversationElsewhere, ConversationNotFound, Listener
from gateway.chat.metrics import OPEN_SOCKETS
from gateway.chat.runtime import ChatRuntime
from gateway.chat.turns import Turn
from gateway.chat.widget import may_embed, public_agent
from gateway.http.responses import dumps
from gateway.services import Services
from pipeline.chat import frames as chat_frames
from pipeline.chat import widget_tokens
from pipeline.chat.frames import FRAME_BURST, FRAMES_PER_SECOND, FrameError, Hello, Ping, Send
from pipeline.chat.rate_limits import FrameBucket, retry_seconds
from projections.chat import assistants
from projections.retryable import is_retryable

log = logging.getLogger(__name__)


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
        self._frames = FrameBucket(FRAMES_PER_SECOND, FRAME_BURST)
        self._ending: Ending | None = None
        self._ended = asyncio.Event()
        self._receiving = False  # the reader waits for the peer: cancelling it leaves nothing half done

    def _end(self, ending: Ending) -> None:
        """Close the socket, for the first reason given."""
        if self._ending is None:
            self._ending = ending
            self._ended.set()

    async def run(self) -> None:
        OPEN_SOCKETS.inc()
        try:
            await self._run()
        finally:
            OPEN_SOCKETS.dec()

    async def _run(self) -> None:
        writer = asyncio.create_task(self._write())
        pinger = asyncio.create_task(self._ping())
        reader = asyncio.create_task(self._read())
        ended = asyncio.create_task(self._ended.wait())
        overflowed = asyncio.create_task(self._listener.overflowed.wait())
        try:
            await asyncio.wait({reader, ended, overflowed}, return_when=asyncio.FIRST_COMPLETED)
            if overflowed.done():
                self._end(NOT_READING)
            if not reader.done() and self._receiving:
                reader.cancel()
            await asyncio.wait({reader})  # a frame in hand is finished; then the reader sees the ending
        finally:
            for task in (reader, ended, overflowed, pinger):
                task.cancel()
            await asyncio.wait({reader, ended, overflowed, pinger})
            self._gone.set()
            if self._turn is not None:
                await asyncio.wait({self._turn})  # it stores what was streamed as interrupted
            if self._conversation is not None:
                await self._chat.hub.detach(self._conversation, self._listener)
            await self._close(writer)
        failed = None if reader.cancelled() else reader.exception()
        if failed is not None:
            raise failed

    async def _close(self, writer: asyncio.Task[None]) -> None:
        """Deliver what is queued and the ending's error frame (within LAST_FRAME_SECONDS), then close."""
        ending = self._ending or NORMAL
        if ending.code in (BACKLOG_CLOSE, FLOOD_CLOSE):
            log.warning("closing a chat socket from %s: %s (%d)", self._address, ending.reason, ending.code)
        if ending.frame is not None and not writer.done() and not self._listener.overflowed.is_set():
            self._listener.close(ending.frame)
            await asyncio.wait({writer}, timeout=LAST_FRAME_SECONDS)
        writer.cancel()
        await asyncio.wait({writer})
        if WebSocketState.DISCONNECTED not in (self._ws.client_state, self._ws.application_state):
            with contextlib.suppress(Exception):  # the peer may be gone already
                await self._ws.close(ending.code, ending.reason)

    async def _read(self) -> None:
        while self._ending is None:
            self._receiving = True
            try:
                async with asyncio.timeout(self._chat.idle_seconds):
                    message = await self._ws.receive()
            except TimeoutError:
                self._end(IDLE)
                return
            finally:
                self._receiving = False
            if message["type"] == "websocket.disconnect":
                return
            if self._frames.take():
                self._end(FLOODED)
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
                if await self._authorized():
                    await self._hello(frame)
            elif isinstance(frame, Send):
                if await self._authorized():
                    await self._send(frame)
            elif isinstance(frame, Ping):
                self._listener.push(chat_frames.PONG)
            # A pong needs no answer: hearing anything at all keeps the socket open.

    async def _write(self) -> None:
        try:
            while True:
                text = await self._listener.next()
                if text is None:
                    self._end(ELSEWHERE)  # unless the socket is ending already: then this was its last frame
                    return
                await self._ws.send_text(text)
        except (WebSocketDisconnect, RuntimeError, OSError):
            self._gone.set()  # the reader sees the disconnect too and winds the socket up

    async def _ping(self) -> None:
        while True:
            await asyncio.sleep(self._chat.ping_seconds)
            if self._expired() and (self._turn is None or self._turn.done()):
                self._end(EXPIRED)  # a reply still streaming is let finish first
                return
            self._listener.push(chat_frames.PING)

    def _expired(self) -> bool:
        return time.time() >= self._claims.expires_at

    async def _authorized(self) -> bool:
        """Whether the token is still valid and the agent still lets the page's origin embed it, checked
        before every hello and send; when not, the socket ends (4401, 4403) and the frame is dropped."""
        if self._expired():
            self._end(EXPIRED)
            return False
        c = self._claims
        try:
            assistant = await assistants.load(self._svc.pool, c.tenant_id, c.agent_id)
        except Exception as exc:
            if not is_retryable(exc):
                raise
            log.warning("loading agent %s failed: %r", c.agent_id, exc)
            self._listener.push(
                chat_frames.error("unavailable", "the chat is unavailable; try again shortly")
            )
            return False
        if assistant is None:
            error = chat_frames.error("agent_not_found", "this agent no longer exists")
            self._end(Ending(ORIGIN_CLOSE, "the agent no longer exists", error))
            return False
        if not may_embed(c.origin, assistant, self._ws):
            error = chat_frames.error(
                "origin_not_allowed", "this page is no longer in the agent's allowed domains"
            )
            self._end(Ending(ORIGIN_CLOSE, "the origin is no longer allowed", error))
            return False
        return True

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
            f"this session belongs to {chat_frames.shown(claims.origin)}, not {chat_frames.shown(origin)}",
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
            f"{chat_frames.shown(origin)} is no longer in this agent's allowed domains",
            ORIGIN_CLOSE,
        )
        return
    await ChatSocket(svc, websocket, claims, public_agent(assistant)).run()


ROUTE = WebSocketRoute("/v1/chat", chat_socket)
