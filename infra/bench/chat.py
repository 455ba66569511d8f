"""The chat agents under load: many websocket conversations at once against the offline model, what the
gateway adds to the model's time to first token, memory per open socket, and the replies' charges.

The offline provider answers with a small fixed delay per word, so the model costs almost nothing and
the figures are the gateway's: token check, balance check, records acknowledged by the broker, frames.
The same provider is also called in this process with the same prompts and concurrency; the difference
in time to first token is what the gateway adds.

The sockets use aiohttp, not websockets: for the same reason as the credits checks, the bench process
shares the machine with the gateway, and should spend as little CPU per frame as it can.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Callable
from typing import Any

import aiohttp
import httpx
import orjson

from gateway.chat.providers import ChatRequest, Completed, Delta, OfflineProvider
from infra.bench import chat_figures as figures
from infra.bench.chat_figures import TurnSample
from infra.bench.options import BenchOptions
from infra.bench.stack import BenchStack, CpuMeter
from infra.errors import InfraError

DELAY_MS = 2  # the offline model's delay per streamed word
# The rate limits of docs/chat.md would refuse most of the bench's messages: every socket comes
# from 127.0.0.1, and each conversation sends as fast as it is answered.
LIMITS_OFF = "1000000"
GATEWAY_ENV = {
    "REVOS_MODEL_API_KEY": "",  # the offline model, whatever the environment of the bench says
    "REVOS_OFFLINE_DELAY_MS": str(DELAY_MS),
    "REVOS_CHAT_SESSION_PER_MINUTE": LIMITS_OFF,
    "REVOS_CHAT_SESSION_BURST": LIMITS_OFF,
    "REVOS_CHAT_IP_PER_MINUTE": LIMITS_OFF,
    "REVOS_CHAT_NEW_SESSIONS_PER_MINUTE": LIMITS_OFF,
    "REVOS_CHAT_CONNECTS_PER_MINUTE": LIMITS_OFF,
}
ORIGIN = "https://bench.example.com"
MODEL = "bench-model"
CUSTOMER = "chat-bench"
BURN_TABLE = "bench-chat"
PRICE = "0.001"  # credits per token of the offline model, the only thing bench-chat prices
SYSTEM_PROMPT = "You are the assistant of a small online shop. Answer briefly and politely."
WARM_UP = 20  # conversations of one turn before anything is measured
ALONE = 20  # turns of one conversation with nothing else going on: the gateway's floor
OPENING = 50  # sockets opening at once (each open reads the agent from the database)
TURN_TIMEOUT = 30.0
SETTLE_WITHIN = 60.0

Progress = Callable[[str], None]

CHARGES = """
SELECT count(*) AS charges, coalesce(sum(quantity), 0) AS tokens, coalesce(sum(credits), 0) AS credits,
       count(*) FILTER (WHERE burn_table = $3) AS priced,
       extract(epoch FROM max(applied_at) - max(received_at)) AS settled,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM applied_at - received_at)) * 1000 AS p50,
       percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM applied_at - received_at)) * 1000 AS p99
FROM charges WHERE tenant_id = $1 AND customer = $2 AND type = 'llm.tokens'
"""
COUNT = "SELECT count(*) FROM charges WHERE tenant_id = $1 AND customer = $2 AND type = 'llm.tokens'"


def question(conversation: int, k: int) -> str:
    """The visitor's k-th message; the offline model echoes it, so replies are about twice as long."""
    return f"Visitor {conversation} asks, message {k}: how much does the premium plan cost per month?"


async def run(
    stack: BenchStack, tenant: dict[str, Any], options: BenchOptions, progress: Progress
) -> dict[str, Any]:
    """Every figure of the section, on a stack whose gateway runs with GATEWAY_ENV."""
    n, k = options.chat_conversations, options.chat_messages
    async with stack.client(tenant["api_key"]) as api:
        progress(f"chat: pricing offline/{MODEL} at {PRICE} credits per token, creating the agent")
        agent_id = await prepare_agent(api, CUSTOMER)
    async with aiohttp.ClientSession(
        stack.url, connector=aiohttp.TCPConnector(limit=0), timeout=aiohttp.ClientTimeout(total=60)
    ) as http:
        progress(f"chat: {n + WARM_UP + 1:,} session tokens, {WARM_UP} warm-up conversations, one alone")
        tokens = await session_tokens(http, agent_id, n + WARM_UP + 1)
        warm = await talk(http, tokens[n : n + WARM_UP], 1, first=n)
        alone = await talk(http, tokens[n + WARM_UP :], ALONE, first=n + WARM_UP)
        rss_idle = await _rss(stack)
        progress(f"chat: opening {n:,} sockets ({OPENING} at a time) and saying hello on each")
        began = time.perf_counter()
        visitors = await _open(http, tokens[:n])
        opened_s = time.perf_counter() - began
        try:
            rss_open = await _rss(stack)
            progress(f"chat: {n:,} conversations send {k} messages each, one after the other")
            meter = CpuMeter(stack.processes())
            meter.start()
            samples = await _converse(visitors, k, first=0)
            cpu = meter.lap()
            rss_after = await _rss(stack)
        finally:
            await asyncio.gather(*(v.close() for v in visitors))
    gateway = figures.turns(samples, n * k)
    replies = sum(s.ok for s in (*samples, *warm, *alone))
    progress(f"chat: waiting for the {2 * replies:,} token charges of {replies:,} replies")
    billed = await _billing(stack, tenant, replies)
    progress(f"chat: the offline provider in this process, {n:,} at once, {k} calls each")
    direct = figures.turns(await _direct(n, k), n * k)
    return {
        "conversations": n,
        "messages": k,
        "delay_ms": DELAY_MS,
        "gateway_env": {key: value for key, value in GATEWAY_ENV.items() if key != "REVOS_MODEL_API_KEY"},
        "open_seconds": round(opened_s, 2),
        "gateway": gateway,
        "direct": direct,
        "alone": figures.turns(alone, ALONE),
        **figures.added(gateway, direct),
        "memory": figures.memory(idle=rss_idle, open_=rss_open, after=rss_after, sockets=n),
        "cpu_percent_of_core": cpu,
        "billing": {"burn_table": BURN_TABLE, "credits_per_token": PRICE, **billed},
    }


async def prepare_agent(api: httpx.AsyncClient, customer: str, **fields: Any) -> str:
    """Price the offline model's tokens with bench-chat, give `customer` credits, and create an agent billed
    to it that the bench's origin may embed (`fields`: more of the agent's settings, a phone line say)."""
    rule = {"type": "llm.tokens", "match": {"model": f"offline/{MODEL}"}, "credits_per_unit": PRICE}
    applied(await api.put(f"/v1/burn-tables/{BURN_TABLE}", json={"rules": [rule]}), "publishing bench-chat")
    settings = {"burn_table": BURN_TABLE, "credit_limit": "0"}
    applied(await api.put(f"/v1/customers/{customer}", json=settings), f"setting up {customer}")
    grant = {"amount": "1000000000", "id": f"bench-{customer}"}
    applied(await api.post(f"/v1/customers/{customer}/grants", json=grant), f"granting to {customer}")
    body = {
        "name": "Bench assistant",
        "customer": customer,
        "model": MODEL,
        "system_prompt": SYSTEM_PROMPT,
        "allowed_domains": [ORIGIN.removeprefix("https://")],
        **fields,
    }
    created = await api.post("/v1/agents", json=body)
    applied(created, "creating the bench agent")
    agent_id: str = created.json()["agent_id"]
    return agent_id


def applied(response: httpx.Response, what: str) -> None:
    if response.status_code not in (200, 201):
        raise InfraError(f"{what} failed: {response.status_code} {response.text[:200]}")


async def session_tokens(http: aiohttp.ClientSession, agent_id: str, count: int) -> list[str]:
    """Session tokens for `count` visitors, as the widget gets them from an allowed page."""
    slots = asyncio.Semaphore(OPENING)
    body = orjson.dumps({"agent_id": agent_id})
    headers = {"Origin": ORIGIN, "Content-Type": "application/json"}

    async def one() -> str:
        async with slots, http.post("/v1/widget/sessions", data=body, headers=headers) as response:
            answer = await response.read()
            if response.status != 201:
                raise InfraError(f"a session token was refused: {response.status} {answer[:200]!r}")
            token: str = orjson.loads(answer)["token"]
            return token

    return await asyncio.gather(*(one() for _ in range(count)))


async def _open(http: aiohttp.ClientSession, tokens: list[str]) -> list[Visitor]:
    slots = asyncio.Semaphore(OPENING)

    async def one(token: str) -> Visitor:
        async with slots:
            return await Visitor.open(http, token)

    return await asyncio.gather(*(one(t) for t in tokens))


async def _converse(visitors: list[Visitor], messages: int, first: int) -> list[TurnSample]:
    """Every visitor converses at once; visitor i is conversation `first + i`."""
    batches = await asyncio.gather(*(v.converse(first + i, messages) for i, v in enumerate(visitors)))
    return [sample for batch in batches for sample in batch]


async def talk(http: aiohttp.ClientSession, tokens: list[str], messages: int, first: int) -> list[TurnSample]:
    """A socket per token, `messages` turns on each at once, then the sockets closed."""
    visitors = await _open(http, tokens)
    try:
        return await _converse(visitors, messages, first)
    finally:
        await asyncio.gather(*(v.close() for v in visitors))


async def _rss(stack: BenchStack) -> int:
    """The gateway's resident memory once it has settled: the median of a few samples."""
    await asyncio.sleep(0.5)
    readings = []
    for _ in range(5):
        readings.append(stack.rss("gateway"))
        await asyncio.sleep(0.1)
    return int(statistics.median(readings))


class Visitor:
    """One widget's socket: says hello, sends messages and times their replies, answers pings."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self._ws = ws

    @classmethod
    async def open(cls, http: aiohttp.ClientSession, token: str) -> Visitor:
        try:
            ws = await http.ws_connect("/v1/chat", params={"token": token}, origin=ORIGIN)
        except aiohttp.ClientError as exc:
            raise InfraError(f"a chat socket did not open: {exc!r}") from exc
        visitor = cls(ws)
        try:
            await visitor._put({"type": "hello"})
            ready = await visitor._frame(TURN_TIMEOUT)
        except (TimeoutError, ConnectionError) as exc:
            await ws.close()
            raise InfraError(f"a chat socket did not answer hello: {exc!r}") from exc
        if ready["type"] != "ready":
            await ws.close()
            raise InfraError(f"a chat socket answered hello with {ready}")
        return visitor

    async def close(self) -> None:
        await self._ws.close()

    async def converse(self, conversation: int, messages: int) -> list[TurnSample]:
        """`messages` turns one after the other; a turn that fails ends the conversation."""
        samples = []
        for k in range(messages):
            sample = await self.turn(f"c{conversation}-{k}", question(conversation, k))
            samples.append(sample)
            if not sample.ok:
                break
        return samples

    async def turn(self, client_message_id: str, text: str) -> TurnSample:
        """Send one message and wait for its final reply (an assistant message without tool calls)."""
        sent = time.perf_counter()
        first: float | None = None
        deadline = sent + TURN_TIMEOUT
        try:
            await self._put({"type": "send", "client_message_id": client_message_id, "text": text})
            while True:
                frame = await self._frame(deadline - time.perf_counter())
                kind = frame["type"]
                if kind == "delta":
                    first = first or time.perf_counter()
                elif kind == "error":
                    return TurnSample(sent, first, None, str(frame.get("code")))
                elif kind == "message" and frame["status"] != figures.COMPLETE:
                    return TurnSample(sent, first, None, str(frame["status"]))
                elif kind == "message" and frame["role"] == "assistant" and not frame.get("tool_calls"):
                    return TurnSample(sent, first, time.perf_counter(), figures.COMPLETE)
        except TimeoutError:
            return TurnSample(sent, first, None, "timeout")
        except ConnectionError:
            return TurnSample(sent, first, None, "closed")

    async def _put(self, frame: dict[str, Any]) -> None:
        await self._ws.send_str(orjson.dumps(frame).decode())

    async def _frame(self, timeout: float) -> dict[str, Any]:
        """The next frame other than a ping (answered here)."""
        while True:
            message = await self._ws.receive(timeout=max(timeout, 0.001))
            if message.type != aiohttp.WSMsgType.TEXT:
                raise ConnectionError(f"the chat socket closed ({message.type.name}, {self._ws.close_code})")
            frame: dict[str, Any] = orjson.loads(message.data)
            if frame["type"] == "ping":
                await self._put({"type": "pong"})
                continue
            return frame


async def _billing(stack: BenchStack, tenant: dict[str, Any], replies: int) -> dict[str, Any]:
    """Wait until every reply's `llm.tokens` usage is charged; the charges' figures (their times are
    the database's and the gateway's clocks: the last reply's usage is stamped when it was written)."""
    deadline = time.monotonic() + SETTLE_WITHIN
    tenant_id = tenant["tenant_id"]
    while (count := int(await stack.db.fetchval(COUNT, tenant_id, CUSTOMER))) < 2 * replies:
        stack.check_alive()
        if time.monotonic() > deadline:
            raise InfraError(
                f"only {count:,} of {2 * replies:,} chat token charges within {SETTLE_WITHIN:.0f}s"
            )
        await asyncio.sleep(0.05)
    row = await stack.db.fetchrow(CHARGES, tenant_id, CUSTOMER, BURN_TABLE)
    assert row is not None
    if row["priced"] != row["charges"]:
        raise InfraError(f"{row['charges'] - row['priced']} chat charges were not priced by {BURN_TABLE}")
    return figures.billing(
        replies=replies,
        charged=row["charges"],
        tokens=row["tokens"],
        credits=row["credits"],
        settled_s=max(0.0, float(row["settled"])),
        lag_p50_ms=float(row["p50"]),
        lag_p99_ms=float(row["p99"]),
    )


async def _direct(conversations: int, messages: int) -> list[TurnSample]:
    """The provider alone: the same prompts (system prompt, then the growing history) and concurrency."""
    provider = OfflineProvider(delay_seconds=DELAY_MS / 1000)

    async def converse(n: int) -> list[TurnSample]:
        history: list[dict[str, Any]] = [{"role": "system", "content": SYSTEM_PROMPT}]
        samples = []
        for k in range(messages):
            history.append({"role": "user", "content": question(n, k)})
            request = ChatRequest(models=(MODEL,), messages=list(history), temperature=None, tools=[])
            sent = time.perf_counter()
            first: float | None = None
            async for item in provider.stream(request):
                if isinstance(item, Delta):
                    first = first or time.perf_counter()
                elif isinstance(item, Completed):
                    samples.append(TurnSample(sent, first, time.perf_counter(), figures.COMPLETE))
                    history.append({"role": "assistant", "content": item.text})
        return samples

    batches = await asyncio.gather(*(converse(n) for n in range(conversations)))
    return [s for batch in batches for s in batch]
