"""Why the server closes a chat socket: the close codes of docs/chat.md, each with its reason."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pipeline.chat import frames as chat_frames
from pipeline.chat import widget_tokens
from pipeline.chat.frames import FRAME_BURST, FRAMES_PER_SECOND

SESSION_CLOSE = 4401  # the token is bad or expired: get a new one
ORIGIN_CLOSE = 4403  # this page may not use this agent (or the agent is gone)
IDLE_CLOSE = 4408  # nothing heard from the peer for too long
ELSEWHERE_CLOSE = 4409  # another gateway process holds the conversation: reconnect (and land there)
BACKLOG_CLOSE = 4413  # the client does not read: more than MAX_BACKLOG_BYTES waited to be sent to it
FLOOD_CLOSE = 4429  # the client sent frames faster than FRAME_BURST / FRAMES_PER_SECOND
RATE_CLOSE = 4429  # too many sockets opened from this address: reconnect after `retry_after` seconds
DRAINING_CLOSE = 1013  # "try again later": this gateway is stopping; the widget reconnects with backoff
LAST_FRAME_SECONDS = 2.0  # how long a closing socket tries to deliver what is queued and its last error


@dataclass(frozen=True, slots=True)
class Ending:
    """Why the server closes a socket; `frame` (an `error`) is sent first when the client can read it."""

    code: int
    reason: str
    frame: dict[str, Any] | None = None


NORMAL = Ending(1000, "")
IDLE = Ending(IDLE_CLOSE, "nothing heard from the client for too long")
NOT_READING = Ending(BACKLOG_CLOSE, "the client does not read what it is sent")
FLOODED = Ending(
    FLOOD_CLOSE,
    "too many frames",
    chat_frames.error(
        chat_frames.TOO_MANY_FRAMES,
        f"a socket may send {FRAME_BURST} frames at once and {FRAMES_PER_SECOND:g} a second; reconnect",
    ),
)
EXPIRED = Ending(
    SESSION_CLOSE,
    "the session expired",
    chat_frames.error(widget_tokens.EXPIRED, "the chat session expired; start a new one"),
)
ELSEWHERE = Ending(ELSEWHERE_CLOSE, "the conversation is held by another gateway process")
