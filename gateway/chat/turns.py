"""One chat turn: store the visitor's message, check the agent's customer (if it has one), stream the
model's reply, run the tools it asks for, and store every message (a reply with its token usage and
the customer the pipeline bills it to).

A turn holds its conversation's lock from the visitor's message to the last reply, so seqs are handed
out in order and a reconnecting socket sees the turn's outcome (`interrupted` included) before it
can send again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from gateway.billing.entitlements import evaluate
from gateway.chat import metrics as chat_metrics
from gateway.chat import observed
from gateway.chat.hub import Conversation, ConversationElsewhere, Listener
from gateway.chat.providers import ChatRequest, Completed, Delta, ProviderError, Usage
from gateway.chat.tools import ToolResult, call_tool, tool_context
from gateway.services import Services
from infra import tracing
from pipeline.assistants.model import Assistant
from pipeline.assistants.tool_secrets import SecretUnreadable, opened_tool
from pipeline.billing.entitlements import CheckRequest
from pipeline.chat import frames as chat_frames
from pipeline.chat.completions import estimate_input_tokens, estimate_tokens
from pipeline.chat.conversation import (
    ASSISTANT,
    COMPLETE,
    CONTEXT_MESSAGES,
    FAILED,
    INTERRUPTED,
    TOOL,
    UNAVAILABLE,
    USER,
    message_id,
    model_messages,
    tool_specs,
)
from pipeline.chat.frames import Send
from pipeline.chat.stored_text import storable, storable_json
from pipeline.chat.widget_tokens import TokenClaims
from pipeline.errors import TransientError
from pipeline.publishing import Outgoing
from pipeline.records import AssistantTool, ChatMessageRecorded
from pipeline.topics import CHAT, conversation_key
from projections.chat import assistants
from projections.retryable import is_retryable

log = logging.getLogger(__name__)

MAX_TOOL_ROUNDS = 3  # model calls that may ask for tools; the one after them is offered none
UNAVAILABLE_TEXT = "This assistant is unavailable right now. Please try again later."
FAILED_TEXT = "Sorry, I could not answer just now. Please try again."
REPLY_ATTEMPTS = 3  # a reply the visitor already watched stream is worth a retry; its ids make it safe
OFFLINE = "offline"


@dataclass(frozen=True, slots=True)
class Builtin:
    """A tool the gateway answers itself rather than a tenant's server (a phone call's `end_call`)."""

    description: str
    run: Callable[[], str]  # what the model is told it did, as JSON text

    def spec(self, name: str) -> dict[str, Any]:
        return {
            "type": "function",
            "function": {"name": name, "description": self.description, "parameters": {"type": "object"}},
        }


@dataclass(frozen=True, slots=True)
class Outcome:
    """How one model call ended: `completed`, or cut off (`interrupted`) or failed with `text` so far."""

    text: str
    completed: Completed | None = None
    interrupted: bool = False
    latency_ms: int | None = None
    first_token_ms: int | None = None


def recorded_model(label: str, model: str) -> str:
    """The offline demo's replies are named `offline/<model>`, so they are never reported or priced
    as if the real model had answered."""
    return f"{OFFLINE}/{model}" if label == OFFLINE else model


class Turn:
    """The work one `send` starts; `gone` is set when the visitor's socket closes."""

    def __init__(
        self,
        svc: Services,
        conversation: Conversation,
        claims: TokenClaims,
        listener: Listener,
        gone: asyncio.Event,
        *,
        instructions: str = "",
        builtins: Mapping[str, Builtin] | None = None,
    ) -> None:
        self._svc = svc
        self._builtins = builtins or {}
        self._instructions = instructions  # added to the agent's prompt for this channel (a phone call)
        self._conversation = conversation
        self._t = conversation.transcript
        self._claims = claims
        self._listener = listener
        self._gone = gone

    async def run(self, send: Send) -> None:
        """The whole turn, under the conversation's lock; `turn_running` was set by the caller."""
        try:
            async with self._conversation.lock:
                with tracing.maybe_span("chat turn", self._span_attributes()):
                    await self._run(send)
        finally:
            self._conversation.turn_running = False

    def _span_attributes(self) -> dict[str, Any]:
        return {
            "revos.tenant_id": self._claims.tenant_id,
            "revos.agent_id": self._claims.agent_id,
            "revos.conversation_id": self._t.conversation_id,
        }

    async def say(self, text: str) -> bool:
        """Store something the assistant said that no model wrote (a phone call's greeting, reprompt or
        goodbye); True once acknowledged."""
        async with self._conversation.lock:
            return await self._commit(self._message(ASSISTANT, text, COMPLETE))

    async def _run(self, send: Send) -> None:
        user = self._message(USER, send.text, COMPLETE, client_message_id=send.client_message_id)
        if not await self._commit(user, attempts=1):
            return  # not acknowledged: the visitor resends it
        try:
            await self._answer(user.seq)
        except Exception:  # a bug or a database gone mid-turn: the visitor still gets an answer
            log.exception("turn failed in conversation %s", self._t.conversation_id)
            chat_metrics.TURN_ERRORS.labels("turn_failed").inc()
            await self._commit(self._message(ASSISTANT, FAILED_TEXT, FAILED, reply_to=user.seq))

    async def _answer(self, reply_to: int) -> None:
        assistant = await assistants.load(self._svc.pool, self._claims.tenant_id, self._claims.agent_id)
        if assistant is None or not await self._may_spend(assistant):
            chat_metrics.TURN_ERRORS.labels("unavailable").inc()
            await self._commit(self._message(ASSISTANT, UNAVAILABLE_TEXT, UNAVAILABLE, reply_to=reply_to))
            return
        prompt = (
            f"{assistant.system_prompt}\n\n{self._instructions}"
            if self._instructions
            else assistant.system_prompt
        )
        messages = model_messages(prompt, self._t.recent(CONTEXT_MESSAGES))
        tools = {t.name: t for t in assistant.tools}
        specs = tool_specs(t for t in assistant.tools if t.name not in self._builtins)
        specs += [builtin.spec(name) for name, builtin in self._builtins.items()]
        label = self._svc.provider.label
        for round_ in range(MAX_TOOL_ROUNDS + 1):
            if self._gone.is_set():  # left while a tool ran: nothing more to stream to
                await self._commit(self._message(ASSISTANT, "", INTERRUPTED, reply_to=reply_to))
                return
            offered = specs if round_ < MAX_TOOL_ROUNDS else []
            request = ChatRequest(
                models=(assistant.model, *assistant.fallback_models),
                messages=messages,
                temperature=assistant.temperature,
                tools=offered,
            )
            with tracing.maybe_span("model call", {"gen_ai.request.model": assistant.model}) as span:
                outcome = await self._call(request, reply_to)
                if span is not None:
                    observed.describe_call(span, request, outcome)
            observed.count_call(request, outcome)
            done = outcome.completed
            if done is None:
                status = INTERRUPTED if outcome.interrupted else FAILED
                text = outcome.text or ("" if outcome.interrupted else FAILED_TEXT)
                if not outcome.text:  # no model produced anything to bill
                    await self._commit(self._message(ASSISTANT, text, status, reply_to=reply_to))
                    return
                # Cut off after tokens streamed: the model read the prompt and wrote this much, and
                # the provider bills it, so the customer is charged with an estimate of both.
                used = Usage(estimate_input_tokens(messages), estimate_tokens(outcome.text), estimated=True)
                cut = self._message(
                    ASSISTANT, text, status, reply_to=reply_to, model=recorded_model(label, assistant.model),
                    input_tokens=used.input_tokens, output_tokens=used.output_tokens,
                    customer=assistant.customer,
                )  # fmt: skip
                await self._commit(cut)
                return
            # A model's tool calls go into the record as jsonb, which refuses NUL like text does.
            calls = storable_json(done.tool_calls) if offered else []
            reply = self._message(
                ASSISTANT,
                done.text,
                COMPLETE,
                reply_to=reply_to,
                model=recorded_model(label, done.model),
                latency_ms=outcome.latency_ms,
                first_token_ms=outcome.first_token_ms,
                input_tokens=done.usage.input_tokens,
                output_tokens=done.usage.output_tokens,
                tool_calls=orjson.dumps(calls).decode() if calls else None,
                customer=assistant.customer,  # the pipeline bills the tokens from this record
            )
            if not await self._commit(reply, attempts=REPLY_ATTEMPTS) or not calls:
                return
            messages.append({"role": ASSISTANT, "content": done.text, "tool_calls": calls})
            for call in calls:
                name = str(call.get("function", {}).get("name", ""))
                with tracing.maybe_span("tool call", {"revos.tool.name": name}) as span:
                    result = await self._tool(tools, call)
                    if span is not None:
                        observed.describe_tool_call(span, result.ok)
                stored = self._message(
                    TOOL,
                    result.content,
                    COMPLETE if result.ok else FAILED,
                    reply_to=reply_to,
                    tool_name=name,
                    tool_call_id=str(call.get("id", "")),
                )
                if not await self._commit(stored, attempts=REPLY_ATTEMPTS):
                    return
                messages.append(
                    {"role": TOOL, "tool_call_id": stored.tool_call_id, "content": result.content}
                )

    async def _may_spend(self, assistant: Assistant) -> bool:
        """`POST /v1/check` for the agent's customer, no credits and no feature; an agent without a
        customer has no billing to check (and its replies carry none, so nothing is charged)."""
        if assistant.customer is None:
            return True
        verdict, _ = await evaluate(
            self._svc, self._claims.tenant_id, CheckRequest(assistant.customer, None), datetime.now(UTC)
        )
        if not verdict.allowed:
            log.info(
                "agent %s: customer %s may not spend (%s)",
                assistant.agent_id,
                assistant.customer,
                verdict.reason,
            )
        return verdict.allowed

    async def _call(self, request: ChatRequest, reply_to: int) -> Outcome:
        """Stream one model call to the listeners; a visitor who leaves cancels it."""
        parts: list[str] = []
        started = time.monotonic()
        first: float | None = None

        async def consume() -> Completed:
            nonlocal first
            # aclosing: the provider's HTTP stream closes the moment the result arrives, not at GC.
            async with contextlib.aclosing(self._svc.provider.stream(request)) as items:
                async for item in items:
                    if isinstance(item, Delta):
                        first = first or time.monotonic()
                        parts.append(item.text)
                        self._conversation.stream(chat_frames.delta(reply_to, storable(item.text)))
                    else:
                        return item
            raise ProviderError("the model's stream ended without a result", streamed=bool(parts))

        streaming = asyncio.create_task(consume())
        leaving = asyncio.create_task(self._gone.wait())
        try:
            await asyncio.wait({streaming, leaving}, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            streaming.cancel()
            raise
        finally:
            leaving.cancel()
        if not streaming.done():
            streaming.cancel()  # closes the provider's stream (and its HTTP request)
            await asyncio.wait({streaming})
            return Outcome("".join(parts), interrupted=True)
        try:
            completed = streaming.result()
        except ProviderError as exc:
            log.warning("conversation %s: the model failed: %s", self._t.conversation_id, exc.message)
            return Outcome("".join(parts))
        ended = time.monotonic()
        return Outcome(
            completed.text,
            completed,
            latency_ms=round((ended - started) * 1000),
            first_token_ms=None if first is None else round((first - started) * 1000),
        )

    async def _tool(self, tools: dict[str, AssistantTool], call: dict[str, Any]) -> ToolResult:
        function = call.get("function") or {}
        builtin = self._builtins.get(str(function.get("name", "")))
        if builtin is not None:
            return ToolResult(True, builtin.run())
        tool = tools.get(str(function.get("name", "")))
        if tool is None:
            return ToolResult(False, orjson.dumps({"error": "this agent has no such tool"}).decode())
        context = tool_context(
            self._claims.tenant_id,
            self._claims.agent_id,
            self._t.conversation_id,
            visitor_id=self._claims.visitor_id,
        )
        try:
            tool = opened_tool(self._svc.secrets, self._claims.tenant_id, self._claims.agent_id, tool)
        except SecretUnreadable as exc:
            log.error("%s", exc)
            return ToolResult(False, orjson.dumps({"error": "the tool's secret cannot be read"}).decode())
        return await call_tool(
            tool,
            str(function.get("arguments") or ""),
            client=self._svc.http,
            context=context,
        )

    def _message(self, role: str, content: str, status: str, **fields: Any) -> ChatMessageRecorded:
        """The next message's record; text from a model or a tool is made storable here, once."""
        seq = self._t.next_seq()
        fields = {k: storable(v) if isinstance(v, str) else v for k, v in fields.items()}
        return ChatMessageRecorded(
            message_id=message_id(self._t.conversation_id, seq),
            tenant_id=self._t.tenant_id,
            agent_id=self._t.agent_id,
            conversation_id=self._t.conversation_id,
            seq=seq,
            role=role,
            content=storable(content),
            status=status,
            occurred_at=datetime.now(UTC),
            visitor_id=self._claims.visitor_id,
            origin=self._claims.origin,
            **fields,
        )

    async def _commit(self, record: ChatMessageRecorded, *, attempts: int = REPLY_ATTEMPTS) -> bool:
        """Publish a message and, once the broker acknowledged it, send it to the listeners. If the
        broker never does, its seq is burned and the visitor told `unavailable`. A reply's tokens are
        billed by the pipeline from this one record, so a stored reply can never go unbilled.

        The seq goes into the conversation's lease first: a process that takes the conversation over
        later goes on after it, and one that already took it over makes this fail (the listeners are
        told to reconnect there)."""
        try:
            await self._svc.chat.hub.reserve(self._conversation, record.seq)
        except ConversationElsewhere:
            return False
        except Exception as exc:
            if not is_retryable(exc):
                raise
            log.warning("message %s: its seq could not be reserved: %r", record.message_id, exc)
            attempts = 0  # the lease may hold the seq even so: burn it, never reuse it
        outgoing = [
            Outgoing(
                CHAT,
                self._svc.codec.encode(record),
                key=conversation_key(record.tenant_id, record.conversation_id),
            )
        ]
        for attempt in range(1, attempts + 1):
            try:
                await self._svc.publisher.publish(outgoing)
            except TransientError as exc:
                log.warning(
                    "message %s not acknowledged (attempt %d): %s", record.message_id, attempt, exc.message
                )
                if attempt < attempts:
                    await asyncio.sleep(0.2 * 2**attempt)
                continue
            self._conversation.commit(record)
            return True
        self._t.burn(record.seq)
        self._listener.push(
            chat_frames.error("unavailable", "the message could not be stored; please send it again")
        )
        return False
