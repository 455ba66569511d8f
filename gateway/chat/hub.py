"""Conversations held by this gateway process: their transcripts, locks and the sockets listening.

Seqs are handed out by the holder of a conversation's lock, and across processes by the holder of its
lease (pipeline/chat/leases.py): a process numbers a conversation only while it holds the lease, records
each seq in it before publishing, and lets it lapse when no socket is left. Another process then goes
on after the lease's last seq even if the projection has not stored those messages yet. A conversation
this process does not hold (after a restart, say) is loaded from the projection.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from gateway.http.responses import dumps
from pipeline.chat import frames as chat_frames
from pipeline.chat.conversation import KEEP, Transcript
from pipeline.chat.leases import Key, Leases
from pipeline.errors import RevosError
from pipeline.records import ChatMessageRecorded
from projections.chat import transcripts
from projections.retryable import is_retryable

log = logging.getLogger(__name__)

Frame = dict[str, Any]


class ConversationNotFound(RevosError):
    code = "conversation_not_found"


class ConversationElsewhere(RevosError):
    """Another gateway process holds the conversation's lease; the visitor reconnects and retries."""

    code = "conversation_elsewhere"


@dataclass(eq=False)
class Listener:
    """One socket's outbox, and the newest message seq put in it (each message goes out once).

    Frames are serialized as they are queued, and at most `limit` bytes may wait (a resume's replay
    aside: the conversation bounds it). Past that the client is not reading: the outbox takes nothing
    more and `overflowed` is set, for the socket to close."""

    limit: int = chat_frames.MAX_BACKLOG_BYTES
    outbox: asyncio.Queue[tuple[str, int] | None] = field(default_factory=asyncio.Queue)
    queued: int = 0  # bytes waiting, replays aside
    overflowed: asyncio.Event = field(default_factory=asyncio.Event)
    sent_through: int = 0

    def push(self, frame: Frame, *, replay: bool = False) -> None:
        if self.overflowed.is_set():
            return
        text = dumps(frame).decode()
        size = 0 if replay else len(text)
        if self.queued + size > self.limit:
            self.overflowed.set()
            return
        self.queued += size
        self.outbox.put_nowait((text, size))

    def push_message(self, record: ChatMessageRecorded, *, replay: bool = False) -> None:
        if record.seq > self.sent_through:
            self.push(chat_frames.message(record), replay=replay)
            self.sent_through = record.seq

    def close(self, frame: Frame) -> None:
        """Send `frame`, then close the socket."""
        self.push(frame)
        self.outbox.put_nowait(None)

    async def next(self) -> str | None:
        """The next frame to send, serialized; None when the socket is to close."""
        item = await self.outbox.get()
        if item is None:
            return None
        text, size = item
        self.queued -= size
        return text


class Conversation:
    """A transcript with its lock (held for a whole turn, and to attach a listener) and listeners."""

    def __init__(self, transcript: Transcript) -> None:
        self.transcript = transcript
        self.lock = asyncio.Lock()
        self.turn_running = False  # set without awaiting after the check, so two sends cannot both start
        self.listeners: set[Listener] = set()
        self.used = time.monotonic()
        self.leased = False  # this process holds the lease: it may number messages
        self.reserved = transcript.last_seq  # the newest seq this process recorded in the lease

    @property
    def numbered(self) -> int:
        """The newest seq this process knows to be handed out (reserved, maybe not yet committed)."""
        return max(self.transcript.last_seq, self.reserved)

    @property
    def key(self) -> Key:
        return (self.transcript.tenant_id, self.transcript.conversation_id)

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
        leases: Leases,
        *,
        keep: int = KEEP,
        capacity: int = 10_000,
        idle_seconds: float = 900.0,
        projection_wait: float = 5.0,
        lease_seconds: float = 30.0,
    ) -> None:
        self._pool = pool
        self._leases = leases
        self.holder = "gw_" + uuid.uuid4().hex
        self._keep = keep
        self._capacity = capacity
        self._idle_seconds = idle_seconds
        self._swept = time.monotonic()
        self._projection_wait = projection_wait
        self._lease_seconds = lease_seconds
        self._held: dict[Key, Conversation] = {}
        # One load per conversation at a time (two loads of one id would make two locks), and a load
        # waiting for the projection holds up no other conversation: [lock, callers].
        self._loading: dict[Key, tuple[asyncio.Lock, list[int]]] = {}

    def __len__(self) -> int:
        return len(self._held)

    async def start(self, tenant_id: str, agent_id: str, visitor_id: str) -> Conversation:
        """A new conversation; it reaches the log (and the projection) with its first message."""
        found = Conversation(
            Transcript(tenant_id, "cnv_" + uuid.uuid4().hex, agent_id, visitor_id, keep=self._keep)
        )
        if await self._leases.claim(found.key, self.holder, self._lease_seconds) is None:
            raise ConversationElsewhere("a new conversation id is already taken")  # a fresh uuid: never
        found.leased = True
        await self._hold(found)
        return found

    async def find(
        self, tenant_id: str, conversation_id: str, agent_id: str, visitor_id: str
    ) -> Conversation:
        """The visitor's conversation with this agent; ConversationNotFound for anyone else's,
        ConversationElsewhere while another process holds it."""
        key = (tenant_id, conversation_id)
        async with self._one_at_a_time(key):
            found = self._held.get(key)
            if found is not None and not found.leased:
                found = await self._reclaim(found)
            if found is None:
                found = await self._load(tenant_id, conversation_id)
        if found.transcript.agent_id != agent_id or found.transcript.visitor_id != visitor_id:
            raise ConversationNotFound("no such conversation for this visitor")
        found.used = time.monotonic()
        return found

    @contextlib.asynccontextmanager
    async def _one_at_a_time(self, key: Key) -> AsyncIterator[None]:
        lock, callers = self._loading.setdefault(key, (asyncio.Lock(), [0]))
        callers[0] += 1
        try:
            async with lock:
                yield
        finally:
            callers[0] -= 1
            if not callers[0]:
                del self._loading[key]

    async def reserve(self, conversation: Conversation, seq: int) -> None:
        """Record `seq` in the lease before its message is published; ConversationElsewhere (and every
        listener told to reconnect) when another process took the conversation over."""
        if not await self._leases.reserve(conversation.key, self.holder, seq, self._lease_seconds):
            self._lose(conversation)
            raise ConversationElsewhere("this conversation went on in another gateway process")
        conversation.reserved = seq

    async def keep_leases(self) -> None:
        """Renew this process's leases until cancelled; a conversation whose lease lapsed and was taken
        by another process is let go."""
        while True:
            await asyncio.sleep(self._lease_seconds / 3)
            leased = [c for c in self._held.values() if c.leased]
            try:
                kept = await self._leases.renew(self.holder, [c.key for c in leased], self._lease_seconds)
                for c in leased:
                    if c.key not in kept and c.leased and self._held.get(c.key) is c:
                        # Lapsed (a long outage, say): still ours if nobody numbered a message since.
                        last = await self._leases.claim(c.key, self.holder, self._lease_seconds)
                        if last is None or last > c.numbered:
                            self._lose(c)
            except Exception as exc:
                if not is_retryable(exc):
                    log.exception("renewing conversation leases failed")
                else:
                    log.warning("renewing conversation leases failed: %r", exc)

    async def close(self) -> None:
        """Let every lease lapse, so other processes can take the conversations over at once."""
        leased = [c.key for c in self._held.values() if c.leased]
        for c in self._held.values():
            c.leased = False
        await self._release(leased)

    async def _reclaim(self, found: Conversation) -> Conversation | None:
        """A conversation held idle without its lease: take the lease again. If another process
        numbered messages meanwhile, the copy in memory is stale and None says to load it again."""
        last = await self._leases.claim(found.key, self.holder, self._lease_seconds)
        if last is None:
            raise ConversationElsewhere("this conversation is open in another gateway process")
        if last > found.numbered:
            del self._held[found.key]
            return None
        found.leased = True
        return found

    async def _load(self, tenant_id: str, conversation_id: str) -> Conversation:
        key = (tenant_id, conversation_id)
        leased = await self._leases.claim(key, self.holder, self._lease_seconds)
        if leased is None:
            raise ConversationElsewhere("this conversation is open in another gateway process")
        stored = await self._caught_up(tenant_id, conversation_id, leased)
        if stored is None:
            await self._release([key])
            raise ConversationNotFound("no such conversation for this visitor")
        # Past the lease's last seq too: messages the projection has not stored yet keep their numbers.
        last_seq = max([stored.last_seq, leased, *(m.seq for m in stored.recent)])
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
        found.leased = True
        await self._hold(found)
        return found

    async def _caught_up(
        self, tenant_id: str, conversation_id: str, leased: int
    ) -> transcripts.StoredConversation | None:
        """The stored conversation, once the projection holds every message the lease numbered (or
        `projection_wait` has passed: the client message ids it lacks could then be processed again)."""
        deadline = time.monotonic() + self._projection_wait
        while True:
            stored = await transcripts.conversation(self._pool, tenant_id, conversation_id, recent=self._keep)
            behind = stored is None or max([stored.last_seq, *(m.seq for m in stored.recent)]) < leased
            if not behind or leased == 0 or time.monotonic() >= deadline:
                if behind and leased:
                    log.warning(
                        "conversation %s: projection behind its lease's seq %d", conversation_id, leased
                    )
                return stored
            await asyncio.sleep(0.05)

    async def _hold(self, conversation: Conversation) -> None:
        """Hold a conversation; forget idle ones unused for `idle_seconds` (a returning visitor's is
        loaded again), and the least recently used idle ones when `capacity` is reached."""
        now = time.monotonic()
        forgotten: list[Conversation] = []
        if now - self._swept > 60:
            self._swept = now
            stale = [k for k, c in self._held.items() if c.idle and now - c.used > self._idle_seconds]
            forgotten += [self._held.pop(key) for key in stale]
        if len(self._held) >= self._capacity:
            idle = sorted((c.used, key) for key, c in self._held.items() if c.idle)
            forgotten += [
                self._held.pop(key) for _, key in idle[: max(1, len(self._held) - self._capacity + 1)]
            ]
        self._held[conversation.key] = conversation
        await self._release([c.key for c in forgotten if c.leased])

    async def _release(self, keys: list[Key]) -> None:
        if not keys:
            return
        try:
            await self._leases.release(self.holder, keys)
        except Exception as exc:  # best effort: they lapse on their own within lease_seconds
            if not is_retryable(exc):
                log.exception("releasing %d conversation leases failed", len(keys))
            else:
                log.warning("releasing %d conversation leases failed: %r", len(keys), exc)

    def _lose(self, conversation: Conversation) -> None:
        conversation.leased = False
        if self._held.get(conversation.key) is conversation:
            del self._held[conversation.key]
        for listener in conversation.listeners:
            listener.close(
                chat_frames.error(
                    ConversationElsewhere.code, "this conversation went on elsewhere; reconnect to resume"
                )
            )

    async def attach(
        self, conversation: Conversation, listener: Listener, last_seq: int, agent: Frame
    ) -> None:
        """Queue `ready`, then every message after `last_seq` in order, then listen for new ones.

        Under the conversation's lock: a turn still finishing (a reply being stored as interrupted
        after the previous socket dropped) completes first, and no message can slip between the
        replay and the listening."""
        async with conversation.lock:
            t = conversation.transcript
            listener.push(chat_frames.ready(t.conversation_id, t.last_seq, agent), replay=True)
            listener.sent_through = last_seq
            replay = t.replay(last_seq)
            for record in await self._stored(t, replay.stored):
                listener.push_message(record, replay=True)
            for record in replay.buffered:
                listener.push_message(record, replay=True)
            listener.sent_through = max(listener.sent_through, t.last_seq)
            conversation.listeners.add(listener)
            conversation.used = time.monotonic()

    async def detach(self, conversation: Conversation, listener: Listener) -> None:
        """Stop listening; the last listener of a conversation with no turn running lets its lease go."""
        conversation.listeners.discard(listener)
        conversation.used = time.monotonic()
        if conversation.idle and conversation.leased:
            conversation.leased = False
            await self._release([conversation.key])

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
