"""Server-sent events: a line-by-line decoder following the WHATWG event-stream rules."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ServerSentEvent:
    """One dispatched event; `data` joins the event's data lines with newlines."""

    data: str
    event: str = "message"
    id: str | None = None


class SSEDecoder:
    """Feed it lines without their terminators; it returns an event at each blank line that ends one.

    Comment lines (starting with ":") are keep-alives, e.g. OpenRouter's `: OPENROUTER PROCESSING`, and
    are skipped. A block without any data line dispatches nothing, as the standard says.
    """

    __slots__ = ("_data", "_event", "_id")

    def __init__(self) -> None:
        self._data: list[str] = []
        self._event = ""
        self._id: str | None = None

    def feed(self, line: str) -> ServerSentEvent | None:
        """Take one line; return the event it completes, if any."""
        if line == "":
            return self._dispatch()
        if line.startswith(":"):
            return None
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id" and "\0" not in value:
            self._id = value
        # "retry" and unknown fields are ignored: reconnection is the provider's own retry policy.
        return None

    def flush(self) -> ServerSentEvent | None:
        """The event left pending when the stream ended without a closing blank line."""
        return self._dispatch()

    def _dispatch(self) -> ServerSentEvent | None:
        data, event = self._data, self._event
        self._data, self._event = [], ""
        if not data:
            return None
        return ServerSentEvent(data="\n".join(data), event=event or "message", id=self._id)
