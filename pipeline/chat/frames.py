"""The chat socket's frames (docs/chat.md): parsing what a client sends, shaping what the server sends.

Pure: the socket reads text, asks `parse`, and answers a FrameError as an `error` frame without
closing, so one bad frame never costs a visitor the conversation.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import orjson

from pipeline.errors import ValidationError
from pipeline.records import ChatMessageRecorded

MAX_FRAME_BYTES = 16 * 1024  # the server (uvicorn's ws_max_size) closes a socket sending more with 1009
MAX_TEXT = 4000
MAX_CLIENT_MESSAGE_ID = 100
# Frames of every kind a socket may send: a burst, then so many a second; past that it is closed.
FRAME_BURST = 30
FRAMES_PER_SECOND = 10.0
# What may wait to be sent to a socket (besides a resume's replay) before its client counts as not reading.
MAX_BACKLOG_BYTES = 256 * 1024
_CONVERSATION_ID = re.compile(r"cnv_[0-9a-f]{32}")
_SHOWN_NAME = re.compile(r"[A-Za-z0-9_]{1,40}")

INVALID_FRAME = "invalid_frame"
TOO_LONG = "message_too_long"
TOO_MANY_FRAMES = "too_many_frames"


class FrameError(ValidationError):
    """A client frame that cannot be acted on; the socket stays open."""

    code = INVALID_FRAME


@dataclass(frozen=True, slots=True)
class Hello:
    conversation_id: str | None = None
    last_seq: int | None = None


@dataclass(frozen=True, slots=True)
class Send:
    client_message_id: str
    text: str


@dataclass(frozen=True, slots=True)
class Ping:
    pass


@dataclass(frozen=True, slots=True)
class Pong:
    pass


ClientFrame = Hello | Send | Ping | Pong

_FIELDS = {
    "hello": frozenset({"type", "conversation_id", "last_seq"}),
    "send": frozenset({"type", "client_message_id", "text"}),
    "ping": frozenset({"type"}),
    "pong": frozenset({"type"}),
}


def _invalid(message: str) -> FrameError:
    return FrameError(message, code=INVALID_FRAME)


def _unknown_fields(kind: str, unknown: list[str]) -> FrameError:
    """Names the first unknown field only when it is a short plain name: an error never echoes
    whatever a client chose to send."""
    first = unknown[0]
    named = (
        f"{kind} frames have no field {first!r}"
        if _SHOWN_NAME.fullmatch(first)
        else f"{kind} frames have no such field"
    )
    more = f" (and {len(unknown) - 1} more)" if len(unknown) > 1 else ""
    return _invalid(named + more + f"; they hold: {', '.join(sorted(_FIELDS[kind]))}")


def _hello(frame: dict[str, Any]) -> Hello:
    conversation_id = frame.get("conversation_id")
    last_seq = frame.get("last_seq")
    if conversation_id is not None and (
        not isinstance(conversation_id, str) or not _CONVERSATION_ID.fullmatch(conversation_id)
    ):
        raise _invalid("conversation_id must be an id this server gave out (cnv_...)")
    if last_seq is not None and (isinstance(last_seq, bool) or not isinstance(last_seq, int) or last_seq < 0):
        raise _invalid("last_seq must be a whole number, 0 or more")
    if last_seq is not None and conversation_id is None:
        raise _invalid("last_seq needs the conversation_id it belongs to")
    return Hello(conversation_id, last_seq)


def _send(frame: dict[str, Any]) -> Send:
    cid = frame.get("client_message_id")
    text = frame.get("text")
    if not isinstance(cid, str) or not cid or len(cid) > MAX_CLIENT_MESSAGE_ID or "\x00" in cid:
        raise _invalid(f"client_message_id must be a string of 1 to {MAX_CLIENT_MESSAGE_ID} characters")
    if not isinstance(text, str) or not text.strip():
        raise _invalid("text must be a non-empty string")
    if len(text) > MAX_TEXT:
        raise FrameError(f"a message holds at most {MAX_TEXT} characters", code=TOO_LONG)
    # PostgreSQL text cannot hold NUL; nothing a visitor types needs it.
    return Send(cid, text.replace("\x00", ""))


def parse(raw: str | bytes) -> ClientFrame:
    """One client frame, validated; FrameError (`invalid_frame`, `message_too_long`) otherwise."""
    size = len(raw) if isinstance(raw, bytes) else len(raw.encode("utf-8", "surrogatepass"))
    if size > MAX_FRAME_BYTES:
        raise FrameError(f"a frame holds at most {MAX_FRAME_BYTES} bytes", code=TOO_LONG)
    try:
        frame = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise _invalid("a frame must be a JSON object") from exc
    if not isinstance(frame, dict):
        raise _invalid("a frame must be a JSON object")
    kind = frame.get("type")
    if not isinstance(kind, str) or kind not in _FIELDS:
        raise _invalid(f"type must be one of: {', '.join(_FIELDS)}")
    unknown = sorted(set(frame) - _FIELDS[kind])
    if unknown:
        raise _unknown_fields(kind, unknown)
    if kind == "hello":
        return _hello(frame)
    if kind == "send":
        return _send(frame)
    return Ping() if kind == "ping" else Pong()


# Server frames: plain dicts, serialized by the socket.


def shown(value: str | None, most: int = 100) -> str:
    """A client's value as an error message may quote it: printable ASCII, at most `most` characters."""
    text = "".join(c if " " <= c <= "~" else "?" for c in (value or "")[: most + 1])
    return text if len(text) <= most else text[: most - 3] + "..."


def message(record: ChatMessageRecorded) -> dict[str, Any]:
    """A whole message as the client sees it; optional fields appear only when set."""
    frame: dict[str, Any] = {
        "type": "message",
        "seq": record.seq,
        "role": record.role,
        "text": record.content,
        "status": record.status,
        "created_at": record.occurred_at,
    }
    if record.client_message_id is not None:
        frame["client_message_id"] = record.client_message_id
    if record.reply_to is not None:
        frame["reply_to"] = record.reply_to
    if record.model is not None:
        frame["model"] = record.model
    if record.tool_name is not None:
        frame["tool_name"] = record.tool_name
    if record.tool_calls:
        frame["tool_calls"] = [
            c.get("function", {}).get("name") for c in orjson.loads(record.tool_calls) if isinstance(c, dict)
        ]
    return frame


def delta(reply_to: int, text: str) -> dict[str, Any]:
    return {"type": "delta", "reply_to": reply_to, "text": text}


def ready(conversation_id: str, last_seq: int, agent: dict[str, Any]) -> dict[str, Any]:
    return {"type": "ready", "conversation_id": conversation_id, "last_seq": last_seq, "agent": agent}


def error(code: str, text: str, retry_after: float | None = None) -> dict[str, Any]:
    frame: dict[str, Any] = {"type": "error", "code": code, "message": text}
    if retry_after is not None:
        frame["retry_after"] = retry_after
    return frame


PING: dict[str, Any] = {"type": "ping"}
PONG: dict[str, Any] = {"type": "pong"}
