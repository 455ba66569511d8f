"""Phone calls under load: many calls at once through Twilio's webhook and ConversationRelay socket, each
saying a few prompts, timed as chat's turns are and beside chat at the same concurrency in the same run;
then every call's turns read back from the projection, so that none was lost.

The bench plays Twilio: it signs the incoming webhook and the socket's handshake with the account's auth
token as Twilio does (twilio's own RequestValidator), takes the relay URL and the call token from the
TwiML, sends `setup`, then each prompt once the previous reply's `last` token came. Closing the socket is
the caller hanging up; the `<Connect action>` and status callbacks Twilio would send follow once nothing
is timed any more, while the turns are read back.
The agent is the chat section's (the offline model, billed to a funded customer) with a phone line, and
it serves the widget conversations measured beside the calls too: only the channel differs.
"""

from __future__ import annotations

import asyncio
import secrets
import time
import xml.etree.ElementTree as ElementTree
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import httpx
import orjson
from twilio.request_validator import RequestValidator
from yarl import URL

from infra.bench import chat
from infra.bench import voice_figures as figures
from infra.bench.chat_figures import COMPLETE, TurnSample
from infra.bench.options import BenchOptions
from infra.bench.stack import BenchStack, CpuMeter
from infra.errors import InfraError

GATEWAY_ENV = {
    # The bench's callers never pause; a reprompt would only be a reply to nothing.
    "REVOS_VOICE_SILENCE_SECONDS": "600",
    # Twilio calls the gateway where it listens here, so signatures are over that URL.
    "REVOS_PUBLIC_URL": "",
}
NUMBER = "+15005550100"
CUSTOMER = "voice-bench"
VOICE, CHAT = "voice", "chat"
# The channels take turns, each round N at once x K turns; in this order a drift over the section (the
# machine settling, or getting busier) weighs on both alike.
ROUNDS = (CHAT, VOICE, VOICE, CHAT)
SIGNATURE = "X-Twilio-Signature"
INCOMING = "/v1/voice/twilio/incoming"
STATUS = "/v1/voice/twilio/status"
READ_BACK_WITHIN = 30.0

Progress = Callable[[str], None]


async def run(
    stack: BenchStack, tenant: dict[str, Any], options: BenchOptions, progress: Progress
) -> dict[str, Any]:
    """Every figure of the section, on a stack whose gateway runs with GATEWAY_ENV and chat's."""
    n, k = options.voice_calls, options.voice_prompts
    twilio = Twilio(stack.url, "AC" + secrets.token_hex(16), secrets.token_hex(16))
    async with stack.client(tenant["api_key"]) as api:
        progress(f"voice: the tenant's Twilio account, an agent answering {NUMBER} and the widget")
        account = {"account_sid": twilio.account_sid, "auth_token": twilio.auth_token}
        chat.applied(await api.put("/v1/voice/twilio", json=account), "setting the Twilio account")
        agent_id = await chat.prepare_agent(api, CUSTOMER, voice={"phone_number": NUMBER})
    async with aiohttp.ClientSession(
        stack.url, connector=aiohttp.TCPConnector(limit=0), timeout=aiohttp.ClientTimeout(total=60)
    ) as http:
        # A full-size warm-up, both channels at once: the first run at this concurrency grows the
        # gateway's pools and is slower, whichever channel it is.
        progress(f"voice: warming up, {n:,} calls and {n:,} widget conversations of one turn at once")
        tokens = await chat.session_tokens(http, agent_id, n * (1 + ROUNDS.count(CHAT)))
        warm, _, _ = await _dial(http, twilio, n, first=0)
        await asyncio.gather(_converse(warm, 1, first=0), chat.talk(http, tokens[:n], 1, first=0))
        fresh = iter(tokens[i : i + n] for i in range(n, len(tokens), n))  # each chat round's own
        meter = CpuMeter(stack.processes())
        meter.start()
        chats: list[list[TurnSample]] = []
        voices: list[list[TurnSample]] = []
        calls: list[Caller] = []
        batches: list[list[TurnSample]] = []
        webhook: list[float] = []
        socket: list[float] = []
        cpu: dict[str, list[dict[str, float]]] = {VOICE: [], CHAT: []}
        for r, channel in enumerate(ROUNDS, start=1):
            if channel == CHAT:
                progress(f"voice: round {r}, chat: {n:,} widget sockets at once x {k} messages")
                sessions = next(fresh)
                meter.lap()
                chats.append(await chat.talk(http, sessions, k, first=r * n))
                cpu[CHAT].append(meter.lap())
            else:
                progress(
                    f"voice: round {r}, {n:,} calls at once (webhook, relay socket, setup) x {k} prompts"
                )
                placed, answered, opened = await _dial(http, twilio, n, first=r * n)
                meter.lap()
                said = await _converse(placed, k, first=r * n)
                cpu[VOICE].append(meter.lap())
                calls += placed
                batches += said
                voices.append([sample for batch in said for sample in batch])
                webhook += answered
                socket += opened
        answered_turns = {c.sid: sum(s.ok for s in b) for c, b in zip(calls, batches, strict=True)}
        progress(f"voice: reading the {len(calls) * k:,} turns back; Twilio's callbacks of the hang-ups")
        async with stack.client(tenant["api_key"]) as api:
            # Nothing is timed any more: the callbacks Twilio sends after each hang-up go now, all at once.
            (stored, source, waited), _ = await asyncio.gather(
                _read_back(stack, api, agent_id, answered_turns, k), _hung_up(http, twilio, [*warm, *calls])
            )
    planned = len(calls) * k
    voice_turns, chat_turns = figures.pooled(voices, planned), figures.pooled(chats, planned)
    return {
        "calls": n,
        "prompts": k,
        "rounds": list(ROUNDS),
        "delay_ms": chat.DELAY_MS,
        "connect": figures.connects(webhook, socket),
        "voice": voice_turns,
        "first_prompt": figures.first_prompts(batches),
        "chat": chat_turns,
        **figures.beside(voice_turns, chat_turns),
        "turns": figures.lost(stored, k),
        "read_back": {"from": source, "seconds": round(waited, 2)},
        "cpu_percent_of_core": {channel: figures.mean_cpu(laps) for channel, laps in cpu.items()},
    }


@dataclass(frozen=True, slots=True)
class Twilio:
    """What the bench knows as Twilio: the gateway's URL and the tenant's account, which signs requests."""

    base: str
    account_sid: str
    auth_token: str

    def signed(self, url: str, params: dict[str, str]) -> dict[str, str]:
        """The header Twilio sends with a request to `url` carrying the form `params`."""
        return {SIGNATURE: RequestValidator(self.auth_token).compute_signature(url, params)}

    async def post(self, http: aiohttp.ClientSession, url: str, form: dict[str, str]) -> str:
        """POST a signed webhook to `url` (absolute, as Twilio has it); its body."""
        async with http.post(URL(url).path_qs, data=form, headers=self.signed(url, form)) as response:
            body = await response.text()
            if response.status not in (200, 204):
                raise InfraError(f"{URL(url).path} answered {response.status}: {body[:200]}")
            return body


async def _dial(
    http: aiohttp.ClientSession, twilio: Twilio, count: int, first: int
) -> tuple[list[Caller], list[float], list[float]]:
    """`count` calls placed at once; call i is number `first + i`. The callers, then each call's webhook
    time (POST -> TwiML) and socket time (handshake -> open), in seconds."""
    slots = asyncio.Semaphore(chat.OPENING)

    async def one(i: int) -> tuple[Caller, float, float]:
        async with slots:
            return await Caller.dial(http, twilio, first + i)

    placed = await asyncio.gather(*(one(i) for i in range(count)))
    return [p[0] for p in placed], [p[1] for p in placed], [p[2] for p in placed]


async def _converse(callers: list[Caller], prompts: int, first: int) -> list[list[TurnSample]]:
    """Every call says its prompts at once (call i is number `first + i`), then hangs up."""
    try:
        return await asyncio.gather(*(c.converse(first + i, prompts) for i, c in enumerate(callers)))
    finally:
        await asyncio.gather(*(c.close() for c in callers))


async def _hung_up(http: aiohttp.ClientSession, twilio: Twilio, callers: list[Caller]) -> None:
    slots = asyncio.Semaphore(chat.OPENING)

    async def one(caller: Caller) -> None:
        async with slots:
            await caller.hung_up(http, twilio)

    await asyncio.gather(*(one(c) for c in callers))


class Caller:
    """One phone call as Twilio places it: the incoming webhook, the relay socket and `setup`, prompts."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, sid: str, caller: str, ended_url: str) -> None:
        self._ws = ws
        self.sid = sid
        self._from = caller
        self._ended_url = ended_url
        self._began = time.monotonic()
        self._seconds = 0  # how long the call lasted, once hung up

    @classmethod
    async def dial(
        cls, http: aiohttp.ClientSession, twilio: Twilio, number: int
    ) -> tuple[Caller, float, float]:
        sid, caller = f"CA{number:032x}", f"+1555{number:07d}"
        form = {
            "CallSid": sid,
            "AccountSid": twilio.account_sid,
            "From": caller,
            "To": NUMBER,
            "CallStatus": "ringing",
            "Direction": "inbound",
        }
        began = time.perf_counter()
        twiml = await twilio.post(http, twilio.base + INCOMING, form)
        answered = time.perf_counter()
        relay_url, call_token, ended_url = _relay(twiml)
        try:
            ws = await http.ws_connect(URL(relay_url).path_qs, headers=twilio.signed(relay_url, {}))
        except aiohttp.ClientError as exc:
            raise InfraError(f"the relay socket of call {sid} did not open: {exc!r}") from exc
        opened = time.perf_counter()
        setup = {
            "type": "setup",
            "sessionId": f"VX{number:032x}",
            "callSid": sid,
            "accountSid": twilio.account_sid,
            "from": caller,
            "to": NUMBER,
            "direction": "inbound",
            "customParameters": {"call_token": call_token},
        }
        await ws.send_str(orjson.dumps(setup).decode())
        return cls(ws, sid, caller, ended_url), answered - began, opened - answered

    async def converse(self, call: int, prompts: int) -> list[TurnSample]:
        """`prompts` turns one after the other, the chat section's questions; a failed one ends the call."""
        samples = []
        for k in range(prompts):
            sample = await self.prompt(chat.question(call, k))
            samples.append(sample)
            if not sample.ok:
                break
        return samples

    async def prompt(self, words: str) -> TurnSample:
        """Say `words` and wait for the reply's `last` token (an empty one: the model has finished)."""
        sent = time.perf_counter()
        first: float | None = None
        deadline = sent + chat.TURN_TIMEOUT
        try:
            await self._put({"type": "prompt", "voicePrompt": words, "lang": "en-US", "last": True})
            while True:
                message = await self._next(deadline - time.perf_counter())
                kind = message.get("type")
                if kind == "text" and not message.get("last"):
                    first = first or time.perf_counter()
                elif kind == "text" and message.get("token") == "":
                    return TurnSample(sent, first, time.perf_counter(), COMPLETE)
                elif kind == "end":
                    reason = orjson.loads(message.get("handoffData") or "{}").get("reason")
                    return TurnSample(sent, first, None, f"ended: {reason}")
                # Words with `last` and no model behind them (a reprompt) are no reply to this prompt.
        except TimeoutError:
            return TurnSample(sent, first, None, "timeout")
        except ConnectionError:
            return TurnSample(sent, first, None, "closed")

    async def close(self) -> None:
        """The caller hangs up."""
        self._seconds = round(time.monotonic() - self._began)
        await self._ws.close()

    async def hung_up(self, http: aiohttp.ClientSession, twilio: Twilio) -> None:
        """What Twilio sends once the caller has hung up: the `<Connect action>` URL and the status callback."""
        seconds = str(self._seconds)
        ended = {
            "CallSid": self.sid,
            "AccountSid": twilio.account_sid,
            "SessionId": f"VX{self.sid[2:]}",
            "SessionStatus": "completed",
            "SessionDuration": seconds,
        }
        status = {
            "CallSid": self.sid,
            "AccountSid": twilio.account_sid,
            "From": self._from,
            "To": NUMBER,
            "CallStatus": "completed",
            "CallDuration": seconds,
        }
        # Twilio sends both at about the same time, in no promised order.
        await asyncio.gather(
            twilio.post(http, self._ended_url, ended), twilio.post(http, twilio.base + STATUS, status)
        )

    async def _put(self, message: dict[str, Any]) -> None:
        await self._ws.send_str(orjson.dumps(message).decode())

    async def _next(self, timeout: float) -> dict[str, Any]:
        message = await self._ws.receive(timeout=max(timeout, 0.001))
        if message.type != aiohttp.WSMsgType.TEXT:
            raise ConnectionError(f"the relay socket closed ({message.type.name}, {self._ws.close_code})")
        parsed: dict[str, Any] = orjson.loads(message.data)
        return parsed


def _relay(twiml: str) -> tuple[str, str, str]:
    """The relay socket's URL, the call token and the `<Connect action>` URL of the incoming TwiML."""
    try:
        connect = ElementTree.fromstring(twiml).find("Connect")
        relay = None if connect is None else connect.find("ConversationRelay")
        if connect is None or relay is None:
            raise InfraError(f"the incoming webhook did not connect the call: {twiml[:300]}")
        token = next(p.get("value") for p in relay.iter("Parameter") if p.get("name") == "call_token")
        url, action = relay.get("url"), connect.get("action")
    except (ElementTree.ParseError, StopIteration) as exc:
        raise InfraError(f"the incoming webhook's TwiML is not what Twilio expects: {twiml[:300]}") from exc
    if not url or not token or not action:
        raise InfraError(
            f"the incoming webhook's TwiML misses the relay URL, call token or action: {twiml[:300]}"
        )
    return url, token, action


async def _read_back(
    stack: BenchStack, api: httpx.AsyncClient, agent_id: str, answered: dict[str, int], prompts: int
) -> tuple[list[figures.CallTurns], str, float]:
    """Each call's stored turns, polled until every answered turn is stored or READ_BACK_WITHIN passes:
    from GET /v1/calls/{sid}'s transcript when the calls projection has the call, else from its
    conversation (visitor `call:<sid>`). The calls, where they were read, and how long it took."""
    began = time.monotonic()
    messages: dict[str, list[dict[str, Any]]] = {sid: [] for sid in answered}
    conversations: dict[str, str] = {}
    sources: set[str] = set()

    def short(sid: str) -> bool:
        return figures.CallTurns(sid, 0, messages[sid]).stored < min(answered[sid], prompts)

    while pending := [sid for sid in answered if short(sid)]:
        stack.check_alive()
        if time.monotonic() - began > READ_BACK_WITHIN:
            break
        if any(sid not in conversations for sid in pending):
            conversations = await _conversations(api, agent_id)
        read = await asyncio.gather(*(_messages(api, sid, conversations.get(sid)) for sid in pending))
        for sid, (source, found) in zip(pending, read, strict=True):
            if source is not None:
                messages[sid] = found
                sources.add(source)
        if any(short(sid) for sid in pending):
            await asyncio.sleep(0.2)
    calls = [figures.CallTurns(sid, answered[sid], messages[sid]) for sid in answered]
    return calls, " and ".join(sorted(sources)) or "nowhere", time.monotonic() - began


async def _messages(
    api: httpx.AsyncClient, sid: str, conversation_id: str | None
) -> tuple[str | None, list[dict[str, Any]]]:
    """A call's stored messages and where they were read (None: nowhere yet)."""
    call = await api.get(f"/v1/calls/{sid}")
    if call.status_code == 200 and call.json().get("conversation_id"):
        return "calls", list(call.json()["transcript"])
    if call.status_code not in (200, 404):
        raise InfraError(f"GET /v1/calls/{sid} answered {call.status_code}: {call.text[:200]}")
    if conversation_id is None:
        return None, []
    found = await api.get(f"/v1/conversations/{conversation_id}")
    if found.status_code != 200:
        raise InfraError(f"GET /v1/conversations/{conversation_id} answered {found.status_code}")
    return "conversations", list(found.json()["messages"])


async def _conversations(api: httpx.AsyncClient, agent_id: str) -> dict[str, str]:
    """The agent's phone conversations: call SID -> conversation id."""
    found: dict[str, str] = {}
    cursor: str | None = None
    while True:
        params = {"agent_id": agent_id, "limit": "500", **({"cursor": cursor} if cursor else {})}
        page = await api.get("/v1/conversations", params=params)
        if page.status_code != 200:
            raise InfraError(f"GET /v1/conversations answered {page.status_code}: {page.text[:200]}")
        body = page.json()
        for c in body["conversations"]:
            visitor = c.get("visitor_id") or ""
            if visitor.startswith("call:"):
                found[visitor.removeprefix("call:")] = c["conversation_id"]
        cursor = body.get("next_cursor")
        if not cursor:
            return found
