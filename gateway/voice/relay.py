"""WS /v1/voice/relay?agent_id=…: Twilio's ConversationRelay socket for one call.

Twilio turns the caller's speech into `prompt` messages and speaks the `text` tokens sent back. Each
prompt is a chat turn of the call's conversation (gateway/chat/turns.py: the same prompt, model,
fallbacks, tools, records and billing as the widget), its deltas streamed as tokens as they arrive.
The call ends when the caller hangs up (the socket closes), or the agent ends it: the time limit,
silence after one reprompt, or a model that cannot answer (the caller hears why, then `end`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import UTC, datetime
from typing import Any

import orjson
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from gateway.chat.hub import Conversation
from gateway.chat.turns import Builtin, Turn
from gateway.services import Services, services
from gateway.voice import twilio
from gateway.voice.events import call_event, record_or_log
from gateway.voice.speaker import Speaker, end
from pipeline.assistants.model import Assistant
from pipeline.chat.conversation import FAILED
from pipeline.chat.frames import Send
from pipeline.chat.widget_tokens import TokenClaims, TokenError
from pipeline.records import CallEventRecorded
from pipeline.voice import call_tokens, calls
from projections.chat import assistants

log = logging.getLogger(__name__)

POLICY_CLOSE = 1008
SETUP_SECONDS = 10.0  # Twilio sends `setup` as soon as the socket opens
LAST_WORDS_SECONDS = 5.0  # how long an ending call waits for Twilio to take its last words and hang up
MAX_MESSAGE = 64 * 1024
INSTRUCTIONS = (
    "You are speaking with a caller on the phone, and your replies are read aloud. Answer in short, "
    "plain spoken sentences: no lists, markdown, links or emoji."
)
REPROMPT = "Are you still there?"
END_CALL = "end_call"  # the tool the model ends the call with, once it has said goodbye
GOODBYES = {
    calls.SILENCE: "I haven't heard anything, so I'll end the call now. Goodbye.",
    calls.MAX_DURATION: "We've reached the time limit for this call. Thank you for calling. Goodbye.",
    calls.PROVIDER_DOWN: "Sorry, I'm having trouble answering right now. Please call again later. Goodbye.",
    calls.OUT_OF_CREDITS: "Sorry, this assistant can't take calls right now. Goodbye.",
    calls.AGENT_UNAVAILABLE: "Sorry, this assistant is no longer available. Goodbye.",
}


async def relay(websocket: WebSocket) -> None:
    """Check the handshake's signature and the call token, then hold the call until it ends."""
    svc = services(websocket)
    agent = await twilio.agent_named(svc, websocket.query_params.get("agent_id"))
    line = await twilio.line_of(svc, agent)
    if line is None or not twilio.signed(svc, websocket, line, {}):
        log.warning(
            "refused a relay socket: not signed by the Twilio account of agent %r", agent and agent.agent_id
        )
        await websocket.close(POLICY_CLOSE)  # before accepting: the handshake is answered 403
        return
    await websocket.accept()
    setup = await _setup(svc, websocket, line.agent)
    if setup is None:
        with contextlib.suppress(Exception):
            await websocket.close(POLICY_CLOSE, "a setup message with a valid call token is required")
        return
    await Call(svc, websocket, line.agent, setup).run()


async def _setup(svc: Services, websocket: WebSocket, agent: Assistant) -> dict[str, Any] | None:
    """The `setup` message, when its call token is ours, current, and for this agent and call."""
    try:
        async with asyncio.timeout(SETUP_SECONDS):
            setup = orjson.loads(await websocket.receive_text())
        params = setup.get("customParameters") or {}
        claims = call_tokens.verify(svc.chat.secret, str(params.get("call_token", "")), datetime.now(UTC))
    except (TimeoutError, WebSocketDisconnect, orjson.JSONDecodeError, AttributeError, TokenError) as exc:
        log.warning("relay socket for agent %s: no valid setup (%r)", agent.agent_id, exc)
        return None
    if (
        setup.get("type") != "setup"
        or (claims.tenant_id, claims.agent_id) != (agent.tenant_id, agent.agent_id)
        or claims.call_sid != setup.get("callSid")
    ):
        log.warning("relay socket for agent %s: the call token is for another call", agent.agent_id)
        return None
    return dict(setup)


class Call:
    """One connected call: its conversation, the turn running, and what ends it."""

    def __init__(self, svc: Services, websocket: WebSocket, agent: Assistant, setup: dict[str, Any]) -> None:
        assert agent.voice is not None
        self._svc = svc
        self._ws = websocket
        self._agent = agent
        self._line = agent.voice
        self.sid = str(setup["callSid"])
        self._setup = setup
        self._claims = TokenClaims(agent.tenant_id, agent.agent_id, "phone", f"call:{self.sid}", 0)
        self._speaker = Speaker()
        self._prompts: asyncio.Queue[Send] = asyncio.Queue()
        self._conversation: Conversation | None = None
        self._interrupt: asyncio.Event | None = None  # set to cut off the turn running
        self._turning = False
        self._idle = asyncio.Event()  # no turn is running
        self._idle.set()
        self._heard_from = time.monotonic()  # the caller's last word, or the end of the last reply
        self._reprompted = False
        self._started = time.monotonic()
        self._count = 0  # numbers the caller's messages and the call's events
        self._reason: str | None = None  # why the agent ends the call
        self._agent_done = False  # the model called end_call: the call ends after its reply
        self._ending = asyncio.Event()

    def _event(self, kind: str, *identity: object, **fields: Any) -> CallEventRecorded:
        return call_event(self._agent.tenant_id, self._agent.agent_id, self.sid, kind, *identity, **fields)

    def _turn(self, interrupt: asyncio.Event) -> Turn:
        assert self._conversation is not None
        hang_up = Builtin(
            "End the phone call. Call it when the caller says goodbye or has nothing more to ask, after "
            "saying goodbye in your reply.",
            self._hang_up,
        )
        return Turn(
            self._svc, self._conversation, self._claims, self._speaker, interrupt,
            instructions=INSTRUCTIONS, builtins={END_CALL: hang_up},
        )  # fmt: skip

    def _hang_up(self) -> str:
        self._agent_done = True
        return '{"ended": true}'

    @property
    def seconds(self) -> int:
        return round(time.monotonic() - self._started)

    def _end(self, reason: str) -> None:
        if self._reason is None:
            self._reason = reason
            self._ending.set()

    async def run(self) -> None:
        hub = self._svc.chat.hub
        self._conversation = await hub.start(
            self._agent.tenant_id, self._agent.agent_id, self._claims.visitor_id
        )
        self._conversation.listeners.add(self._speaker)
        connected = self._event(
            calls.CONNECTED, self._setup.get("sessionId", ""), conversation_id=self._conversation.transcript.conversation_id,
            from_number=self._setup.get("from"), to_number=self._setup.get("to"), customer=self._agent.customer,
        )  # fmt: skip
        await record_or_log(self._svc, connected)
        if self._line.welcome_greeting:  # Twilio speaks it; the transcript keeps it
            await self._turn(asyncio.Event()).say(self._line.welcome_greeting)
        writer = asyncio.create_task(self._write())
        reader = asyncio.create_task(self._read())
        turns = asyncio.create_task(self._take_turns())
        watch = asyncio.create_task(self._watch())
        try:
            await asyncio.wait(
                {reader, asyncio.create_task(self._ending.wait())}, return_when=asyncio.FIRST_COMPLETED
            )
            if self._reason is not None:
                await self._finish(reader, turns, writer)
        finally:
            watch.cancel()
            await self._stop_turns(turns)  # a reply being streamed is stored as interrupted
            await asyncio.wait({watch})
            if self._reason is None:  # the socket closed without the agent ending the call
                log.info(
                    "call %s (agent %s): the relay socket closed after %d s without the agent ending it "
                    "(a hang-up if Twilio reports one, else dropped)", self.sid, self._agent.agent_id, self.seconds,
                )  # fmt: skip
                await record_or_log(self._svc, self._event(calls.RELAY_CLOSED, duration_seconds=self.seconds))
            reader.cancel()
            writer.cancel()
            await asyncio.wait({reader, writer})
            await hub.detach(self._conversation, self._speaker)
            if WebSocketState.DISCONNECTED not in (self._ws.client_state, self._ws.application_state):
                with contextlib.suppress(Exception):
                    await self._ws.close()

    async def _finish(
        self, reader: asyncio.Task[None], turns: asyncio.Task[None], writer: asyncio.Task[None]
    ) -> None:
        """The agent ends the call: cut off what it was saying, say goodbye, `end`, and wait for Twilio to hang up."""
        assert self._reason is not None
        await self._stop_turns(turns)
        goodbye = GOODBYES.get(self._reason)
        if goodbye is not None:
            await self._say(goodbye)
        self._speaker.push(end(self._reason))
        failed = self._reason in calls.DROPS
        log.log(
            logging.WARNING if failed else logging.INFO,
            "call %s (agent %s) ended by the agent after %d s: %s", self.sid, self._agent.agent_id, self.seconds,
            self._reason,
        )  # fmt: skip
        ended = self._event(calls.ENDED, end_reason=self._reason, duration_seconds=self.seconds)
        await record_or_log(self._svc, ended)
        await asyncio.wait({reader}, timeout=LAST_WORDS_SECONDS)

    async def _stop_turns(self, turns: asyncio.Task[None]) -> None:
        """Cut off the turn running (it stores what it streamed as interrupted), then take no more."""
        if self._interrupt is not None:
            self._interrupt.set()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(LAST_WORDS_SECONDS):
                await self._idle.wait()
        turns.cancel()
        await asyncio.wait({turns})

    async def _say(self, words: str) -> None:
        await self._turn(asyncio.Event()).say(words)
        self._speaker.say(words)

    async def _write(self) -> None:
        while (message := await self._speaker.next()) is not None:
            await self._ws.send_text(message)

    async def _read(self) -> None:
        """Until the socket closes: each message from Twilio, handled in order."""
        with contextlib.suppress(WebSocketDisconnect):
            while True:
                raw = await self._ws.receive_text()
                try:
                    message = orjson.loads(raw[:MAX_MESSAGE])
                except orjson.JSONDecodeError:
                    log.warning("call %s: a relay message that is not JSON", self.sid)
                    continue
                if isinstance(message, dict):
                    await self._handle(message)

    async def _handle(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        self._count += 1
        if kind == "prompt" and message.get("last", True):
            self._heard(str(message.get("voicePrompt", "")))
        elif kind == "interrupt":
            if self._interrupt is not None:
                self._interrupt.set()
            event = self._event(
                calls.INTERRUPTED, self._count, reply_to=self._speaker.last_prompt,
                heard=str(message.get("utteranceUntilInterrupt", ""))[:4000],
                heard_ms=_int(message.get("durationUntilInterruptMs")),
            )  # fmt: skip
            await record_or_log(self._svc, event)
        elif kind == "dtmf":
            digit = str(message.get("digit", ""))[:8]
            await record_or_log(self._svc, self._event(calls.DTMF, self._count, detail=digit))
            self._heard(f"(The caller pressed {digit} on the keypad.)")
        elif kind == "error":
            description = str(message.get("description", ""))[:500]
            log.warning("call %s: Twilio reported an error on the relay: %s", self.sid, description)
            await record_or_log(self._svc, self._event(calls.ERROR, self._count, detail=description))

    def _heard(self, words: str) -> None:
        if not words.strip():
            return
        self._heard_from = time.monotonic()
        self._reprompted = False
        self._prompts.put_nowait(Send(f"{self.sid}:{self._count}", words))

    async def _take_turns(self) -> None:
        """One turn at a time, in the order the caller spoke; a failed reply ends the call."""
        while True:
            send = await self._prompts.get()
            self._interrupt = asyncio.Event()
            assert self._conversation is not None
            self._conversation.turn_running = self._turning = True
            self._idle.clear()
            try:
                await self._turn(self._interrupt).run(send)
            finally:
                self._turning = False
                self._idle.set()
                self._interrupt = None
                self._heard_from = time.monotonic()
            if self._agent_done:
                self._end(calls.AGENT_ENDED)
                return
            if self._speaker.failed is not None:
                agent = await assistants.load(self._svc.pool, self._agent.tenant_id, self._agent.agent_id)
                if self._speaker.failed == FAILED:
                    self._end(calls.PROVIDER_DOWN)
                else:
                    self._end(calls.AGENT_UNAVAILABLE if agent is None else calls.OUT_OF_CREDITS)
                return

    async def _watch(self) -> None:
        """The time limit, and silence: one reprompt, then goodbye."""
        silence = self._svc.settings.voice_silence_seconds
        while True:
            await asyncio.sleep(0.2)
            if time.monotonic() - self._started >= self._line.max_call_seconds:
                self._end(calls.MAX_DURATION)
                return
            if self._turning or not self._prompts.empty() or time.monotonic() - self._heard_from < silence:
                continue
            if self._reprompted:
                self._end(calls.SILENCE)
                return
            self._reprompted = True
            self._heard_from = time.monotonic()
            await self._say(REPROMPT)


def _int(raw: object) -> int | None:
    return raw if isinstance(raw, int) and not isinstance(raw, bool) and 0 <= raw < 2**62 else None
