"""Conversations held by this gateway process: their transcripts, locks and the sockets listening.

Seqs are handed out by the holder of a conversation's lock, so one process must own a conversation:
several gateway processes need sessions that stick to one process per conversation (docs/chat.md).
A conversation this process does not hold (after a restart, say) is loaded from the projection.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from pipeline import chat_frames
from pipeline.conversation import KEEP, Transcript
from pipeline.errors import RevosError
from pipeline.records import ChatMessageRecorded
from projections import transcripts

log = logging.getLogger(__name__)

Frame = dict[str, Any]


class ConversationNotFound(RevosError):
    code = "conversation_not_found"


@dataclass(eq=False)
class Listener:
    """One socket's outbox, and the newest message seq put in it (each message goes out once)."""

    outbox: asyncio.Queue[Frame] = field(default_factory=asyncio.Queue)
    sent_through: int = 0

    def push(self, frame: Frame) -> None:
        self.outbox.put_nowait(frame)

    def push_message(self, record: ChatMessageRecorded) -> None:
        if record.seq > self.sent_through:
            self.push(chat_frames.message(record))
            self.sent_through = record.seq


class Conversation:
    """A transcript with its lock (held for a whole turn, and to attach a listener) and listeners."""

    def __init__(self, transcript: Transcript) -> None:
        self.transcript = transcript
        self.lock = asyncio.Lock()
        self.turn_running = False  # set without awaiting after the check, so two sends cannot both start
        self.listeners: set[Listener] = set()
        self.used = time.monotonic()

    def commit(self, record: ChatMessageRecorded) -> None:
        """A message the broker acknowledged: remember it and send it to every listener."""
        self.transcript.append(record)
        for listener in self.listeners:
            listener.push_message(record)

    def stream(self, frame: Frame) -> None:
        """A frame that is not a message (a delta): every listener gets it, none is replayed later."""
        for listener in self.listeners:
            listener.push(frame)

    @property
    def idle(self) -> bool:
        return not (self.listeners or self.turn_running or self.lock.locked())


class Hub:
    """The conversations this process holds (idle ones are forgotten, so memory stays bounded)."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        keep: int = KEEP,
        capacity: int = 10_000,
        idle_seconds: float = 900.0,
        projection_wait: float = 5.0,
    ) -> None:
        self._pool = pool
        self._keep = keep
        self._capacity = capacity
        self._idle_seconds = idle_seconds
        self._swept = time.monotonic()
        self._projection_wait = projection_wait
        self._held: dict[tuple[str, str], Conversation] = {}
        self._loading = asyncio.Lock()  # one load at a time: two loads of one id would make two locks

    def __len__(self) -> int:
        return len(self._held)

    def start(self, tenant_id: str, agent_id: str, visitor_id: str) -> Conversation:
        """A new conversation; it reaches the log (and the projection) with its first message."""
        conversation_id = "cnv_" + uuid.uuid4().hex
        found = Conversation(Transcript(tenant_id, conversation_id, agent_id, visitor_id, keep=self._keep))
        self._hold(found)
        return found

    async def find(
        self, tenant_id: str, conversation_id: str, agent_id: str, visitor_id: str
    ) -> Conversation:
        """The visitor's conversation with this agent; ConversationNotFound for anyone else's."""
        found = self._held.get((tenant_id, conversation_id))
        if found is None:
            async with self._loading:
                found = self._held.get((tenant_id, conversation_id)) or await self._load(
                    tenant_id, conversation_id
                )
        if found.transcript.agent_id != agent_id or found.transcript.visitor_id != visitor_id:
            raise ConversationNotFound("no such conversation for this visitor")
        found.used = time.monotonic()
        return found

    async def _load(self, tenant_id: str, conversation_id: str) -> Conversation:
        stored = await transcripts.conversation(self._pool, tenant_id, conversation_id, recent=self._keep)
        if stored is None:
            raise ConversationNotFound("no such conversation for this visitor")
        last_seq = max([stored.last_seq, *(m.seq for m in stored.recent)])
        transcript = Transcript(
            tenant_id,
            conversation_id,
            stored.agent_id,
            stored.visitor_id,
            last_seq=last_seq,
            recent=stored.recent,
            client_ids=stored.client_ids,
            keep=self._keep,
        )
        found = Conversation(transcript)
        self._hold(found)
        return found

    def _hold(self, conversation: Conversation) -> None:
        """Hold a conversation; forget idle ones unused for `idle_seconds` (a returning visitor's is
        loaded again), and the least recently used idle ones when `capacity` is reached."""
        t = conversation.transcript
        now = time.monotonic()
        if now - self._swept > 60:
            self._swept = now
            stale = [k for k, c in self._held.items() if c.idle and now - c.used > self._idle_seconds]
            for key in stale:
                del self._held[key]
        if len(self._held) >= self._capacity:
            idle = sorted((c.used, key) for key, c in self._held.items() if c.idle)
            for _, key in idle[: max(1, len(self._held) - self._capacity + 1)]:
                del self._held[key]
        self._held[(t.tenant_id, t.conversation_id)] = conversation

    async def attach(
        self, conversation: Conversation, listener: Listener, last_seq: int, agent: Frame
    ) -> None:
        """Queue `ready`, then every message after `last_seq` in order, then listen for new ones.

        Under the conversation's lock: a turn still finishing (a reply being stored as interrupted
        after the previous socket dropped) completes first, and no message can slip between the
        replay and the listening."""
        async with conversation.lock:
            t = conversation.transcript
            listener.push(chat_frames.ready(t.conversation_id, t.last_seq, agent))
            listener.sent_through = last_seq
            replay = t.replay(last_seq)
            for record in await self._stored(t, replay.stored):
                listener.push_message(record)
            for record in replay.buffered:
                listener.push_message(record)
            listener.sent_through = max(listener.sent_through, t.last_seq)
            conversation.listeners.add(listener)
            conversation.used = time.monotonic()

    def detach(self, conversation: Conversation, listener: Listener) -> None:
        conversation.listeners.discard(listener)
        conversation.used = time.monotonic()

    async def _stored(self, t: Transcript, seqs: range) -> list[ChatMessageRecorded]:
        """Messages older than memory, from the projection; waits (a little) for it to catch up."""
        if not seqs:
            return []
        expected = t.expected(seqs)
        deadline = time.monotonic() + self._projection_wait
        while True:
            found = await transcripts.between(
                self._pool, t.tenant_id, t.conversation_id, seqs.start, seqs.stop
            )
            if {m.seq for m in found} >= expected or time.monotonic() >= deadline:
                break
            await asyncio.sleep(0.05)
        missing = expected - {m.seq for m in found}
        if missing:
            log.warning(
                "conversation %s: projection lacks messages %s", t.conversation_id, sorted(missing)[:10]
            )
        return found
