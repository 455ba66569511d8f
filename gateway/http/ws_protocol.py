"""uvicorn's websocket protocol, made safe against a peer that does not read what it is sent.

uvicorn answers a peer's protocol pings itself and, unchanged, would buffer those answers without
bound for a peer that sends pings and never reads; and its `websocket.close` waits, like any send,
until the peer has read enough, so a socket that does not read could never be closed. Here:

- while the transport's write buffer is over its high-water mark, nothing more is read from the peer
  (so no ping is answered, and no frame queued, until it reads);
- a close is written at once, after whatever is buffered, and a peer that has not answered it within
  the close timeout is cut off (its unread bytes dropped), instead of holding the connection forever.
"""

from __future__ import annotations

from uvicorn._types import ASGIReceiveEvent, ASGISendEvent
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol


class BoundedWebSocketProtocol(WebSocketsSansIOProtocol):
    """The protocol class the gateway hands uvicorn (`ws=`)."""

    def pause_writing(self) -> None:
        super().pause_writing()
        self.transport.pause_reading()

    def resume_writing(self) -> None:
        super().resume_writing()
        if not self.read_paused:
            self.transport.resume_reading()

    async def receive(self) -> ASGIReceiveEvent:
        message = await self.queue.get()
        if self.read_paused and self.queue.empty():
            self.read_paused = False
            if self.writable.is_set():  # otherwise reading resumes once the peer has read
                self.transport.resume_reading()
        return message

    async def send(self, message: ASGISendEvent) -> None:
        closing = message["type"] == "websocket.close" and self.handshake_complete and not self.close_sent
        if closing:
            self.writable.set()  # the close frame joins the buffer however full it is: a few bytes
        await super().send(message)
        if closing and self.close_timer is not None:
            self.close_timer.cancel()
            self.close_timer = self.loop.call_later(self.close_timeout, self.transport.abort)
