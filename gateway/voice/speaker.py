"""A phone call's listener on its conversation: what a chat socket would be sent, as ConversationRelay
messages. A reply's deltas become `text` tokens as they stream, and its end a `last` token; what no
model wrote (a reprompt, a goodbye) the relay speaks itself with `say`."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from gateway.chat.hub import Frame, Listener
from gateway.http.responses import dumps
from pipeline.chat.conversation import ASSISTANT, COMPLETE, FAILED, UNAVAILABLE, USER
from pipeline.records import ChatMessageRecorded


def text(token: str, *, last: bool) -> dict[str, Any]:
    return {"type": "text", "token": token, "last": last}


def end(reason: str) -> dict[str, Any]:
    """Tell Twilio to end the relay session; `handoffData` (JSON text) reaches the `<Connect action>` URL."""
    return {"type": "end", "handoffData": dumps({"reason": reason}).decode()}


@dataclass(eq=False)
class Speaker(Listener):
    last_prompt: int | None = None  # the seq of the caller's newest message: whose reply is being spoken
    failed: str | None = None  # the status of a reply no model could give (failed, unavailable)
    replied: asyncio.Event = field(default_factory=asyncio.Event)  # a reply (or a failure) was stored

    def push(self, frame: Frame, *, replay: bool = False) -> None:
        if frame.get("type") == "delta":
            super().push(text(frame["text"], last=False))
        elif frame.get("type") in ("text", "end"):
            super().push(frame)
        # Chat's other frames (ready, errors meant for a widget) have nothing to say on a phone line.

    def say(self, words: str) -> None:
        super().push(text(words, last=True))

    def push_message(self, record: ChatMessageRecorded, *, replay: bool = False) -> None:
        if record.role == USER:
            self.last_prompt = record.seq
            self.failed = None
            self.replied.clear()
        elif record.role == ASSISTANT and record.reply_to is not None:
            if record.status == COMPLETE and record.model is not None and not record.tool_calls:
                super().push(text("", last=True))
                self.replied.set()
            elif record.status in (FAILED, UNAVAILABLE):
                self.failed = record.status
                self.replied.set()
