"""Model providers against a real local OpenAI-compatible server (HTTP + SSE), and the offline provider."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fake_model_server import DONE, FakeModelServer, Reply, chunk, in_band_error, sse

from gateway.chat.providers import (
    ChatRequest,
    Completed,
    Delta,
    OfflineProvider,
    OpenAICompatibleProvider,
    Provider,
    ProviderError,
    Usage,
    provider_from_settings,
)
from pipeline.chat.backoff import Backoff
from pipeline.chat.completions import estimate_input_tokens, estimate_tokens
from pipeline.settings import Settings

MESSAGES = [
    {"role": "system", "content": "You are a helpful shop assistant."},
    {"role": "user", "content": "Where is my order?"},
]
TWO_MODELS = ChatRequest(models=("model-a", "model-b"), messages=MESSAGES, temperature=0.2, tools=[])


@pytest.fixture
def server() -> Iterator[FakeModelServer]:
    with FakeModelServer() as running:
        yield running


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as opened:
        yield opened


def openai(server: FakeModelServer, client: httpx.AsyncClient, **options: Any) -> OpenAICompatibleProvider:
    options.setdefault("max_attempts", 3)
    options.setdefault("backoff", Backoff(base=0.01, cap=0.05))
    return OpenAICompatibleProvider(server.base_url, server.api_key, client=client, **options)


async def run(provider: Provider, request: ChatRequest) -> tuple[list[str], Completed]:
    """The deltas' texts and the one Completed; fails if the stream breaks the Delta*-Completed shape."""
    texts: list[str] = []
    completed: list[Completed] = []
    async for item in provider.stream(request):
        assert not completed, "nothing may follow Completed"
        if isinstance(item, Delta):
            texts.append(item.text)
        else:
            completed.append(item)
    assert len(completed) == 1
    return texts, completed[0]


async def run_failing(provider: Provider, request: ChatRequest) -> tuple[list[str], ProviderError]:
    texts: list[str] = []
    with pytest.raises(ProviderError) as raised:
        async for item in provider.stream(request):
            assert isinstance(item, Delta), "a failing stream must not complete"
            texts.append(item.text)
    return texts, raised.value


async def test_streams_text_and_reports_the_final_chunks_usage(
    server: FakeModelServer, client: httpx.AsyncClient
) -> None:
    server.script("model-a", Reply.text(["Your order ", "ships ", "today."], usage=(31, 4)))

    texts, completed = await run(openai(server, client), TWO_MODELS)

    assert texts == ["Your order ", "ships ", "today."]
    assert completed == Completed("model-a", "Your order ships today.", [], Usage(31, 4))
    [seen] = server.requests
    assert seen.headers["authorization"] == f"Bearer {server.api_key}"
    assert seen.body == {
        "model": "model-a",
        "messages": MESSAGES,
        "stream": True,
        "stream_options": {"include_usage": True},
        "temperature": 0.2,
    }


async def test_comment_lines_multiline_data_and_missing_usage(
    server: FakeModelServer, client: httpx.AsyncClient
) -> None:
    multiline = 'data: {"choices": [{"index": 0,\ndata:  "delta": {"content": "Hel"}}]}\n\n'
    server.script(
        "model-a",
        Reply.stream(
            ": OPENROUTER PROCESSING\n\n",
            ": OPENROUTER PROCESSING\n\n",
            multiline,
            "event: message\r\nid: 7\r\ndata:" + sse({"choices": [{"delta": {"content": "lo"}}]})[5:],
            chunk(finish_reason="stop"),
            DONE,
        ),
    )

    texts, completed = await run(openai(server, client), TWO_MODELS)

    assert texts == ["Hel", "lo"]
    expected = Usage(estimate_input_tokens(MESSAGES), estimate_tokens("Hello"), estimated=True)
    assert completed == Completed("model-a", "Hello", [], expected)
    assert expected == Usage(14, 2, estimated=True)


async def test_falls_back_to_the_next_model_after_retrying_500s(
    server: FakeModelServer, client: httpx.AsyncClient
) -> None:
    server.script("model-a", *[Reply.error(500, "overloaded")] * 3)
    server.script("model-b", Reply.text(["Fine."], usage=(20, 1)))

    texts, completed = await run(openai(server, client), TWO_MODELS)

    assert server.models_called() == ["model-a", "model-a", "model-a", "model-b"]
    assert (texts, completed) == (["Fine."], Completed("model-b", "Fine.", [], Usage(20, 1)))


async def test_a_400_skips_retries_and_falls_back(server: FakeModelServer, client: httpx.AsyncClient) -> None:
    server.script("model-a", Reply.error(400, "model-a is not a valid model ID"))

    texts, completed = await run(openai(server, client), TWO_MODELS)

    assert server.models_called() == ["model-a", "model-b"]
    assert completed.model == "model-b"
    assert "".join(texts) == completed.text == "You said: Where is my order?"


async def test_no_fallback_when_the_connection_drops_after_the_first_token(
    server: FakeModelServer, client: httpx.AsyncClient
) -> None:
    server.script("model-a", Reply.stream(chunk("Your order "), chunk("is"), drop=True))

    texts, error = await run_failing(openai(server, client), TWO_MODELS)

    assert texts == ["Your order ", "is"]
    assert (error.streamed, error.code) == (True, "stream_interrupted")
    assert server.models_called() == ["model-a"]


async def test_no_fallback_after_an_in_band_error_following_the_first_token(
    server: FakeModelServer, client: httpx.AsyncClient
) -> None:
    server.script(
        "model-a", Reply.stream(chunk("Your order "), chunk("is"), in_band_error("provider crashed"), DONE)
    )

    texts, error = await run_failing(openai(server, client), TWO_MODELS)

    assert texts == ["Your order ", "is"]
    assert (error.streamed, error.code) == (True, "stream_interrupted")
    assert "provider crashed" in error.message
    assert server.models_called() == ["model-a"]


async def test_an_in_band_error_before_any_token_falls_back(
    server: FakeModelServer, client: httpx.AsyncClient
) -> None:
    server.script("model-a", Reply.stream(": OPENROUTER PROCESSING\n\n", in_band_error("no capacity", 503)))

    texts, completed = await run(openai(server, client), TWO_MODELS)

    assert server.models_called() == ["model-a", "model-b"]
    assert (completed.model, "".join(texts)) == ("model-b", "You said: Where is my order?")


async def test_429_is_retried_no_sooner_than_retry_after(
    server: FakeModelServer, client: httpx.AsyncClient
) -> None:
    server.script("model-a", Reply.error(429, "slow down", retry_after="1"), Reply.text(["OK"]))

    texts, completed = await run(openai(server, client), TWO_MODELS)

    assert server.models_called() == ["model-a", "model-a"]
    assert server.requests[1].at - server.requests[0].at >= 1.0
    assert (texts, completed.model) == (["OK"], "model-a")


async def test_a_retry_after_beyond_the_wait_budget_moves_on_at_once(
    server: FakeModelServer, client: httpx.AsyncClient
) -> None:
    server.script("model-a", Reply.error(429, "slow down", retry_after="120"))
    started = time.monotonic()

    _, completed = await run(openai(server, client, max_wait_seconds=5.0), TWO_MODELS)

    assert server.models_called() == ["model-a", "model-b"]
    assert completed.model == "model-b"
    assert time.monotonic() - started < 5.0


async def test_a_drop_or_a_timeout_before_any_token_is_retried_on_the_same_model(
    server: FakeModelServer, client: httpx.AsyncClient
) -> None:
    server.script(
        "model-a",
        Reply.stream(": OPENROUTER PROCESSING\n\n", drop=True),
        Reply.stream(chunk("late"), DONE, delay=2.0),
        Reply.text(["On time."]),
    )
    provider = openai(server, client, timeout=httpx.Timeout(0.5))

    texts, completed = await run(provider, TWO_MODELS)

    assert server.models_called() == ["model-a", "model-a", "model-a"]
    assert (texts, completed.model) == (["On time."], "model-a")


async def test_every_model_failing_raises_without_streaming(
    server: FakeModelServer, client: httpx.AsyncClient
) -> None:
    server.script("model-a", Reply.error(401, "bad key"))
    server.script("model-b", Reply.error(404, "no such model"))

    texts, error = await run_failing(openai(server, client), TWO_MODELS)

    assert texts == []
    assert (error.streamed, error.code) == (False, "models_unavailable")
    assert error.failures == (
        "model-a: HTTP 401: bad key",
        "model-b: HTTP 404: no such model",
    )


async def test_tool_call_fragments_are_accumulated_by_index(
    server: FakeModelServer, client: httpx.AsyncClient
) -> None:
    def fragment(index: int, arguments: str, **first: str) -> list[dict[str, Any]]:
        function: dict[str, str] = {"arguments": arguments}
        if "name" in first:
            function["name"] = first["name"]
        head = {"id": first["id"], "type": "function"} if "id" in first else {}
        return [{"index": index, **head, "function": function}]

    server.script(
        "model-a",
        Reply.stream(
            chunk(tool_calls=fragment(0, "", id="call_1", name="lookup_order")),
            chunk(tool_calls=fragment(1, '{"sku"', id="call_2", name="stock")),
            chunk(tool_calls=fragment(0, '{"order_id": ')),
            chunk(tool_calls=fragment(1, ': "B-7"}')),
            chunk(tool_calls=fragment(0, '"A-1"}')),
            chunk(finish_reason="tool_calls"),
            chunk(usage=(40, 18)),
            DONE,
        ),
    )
    spec = {"type": "function", "function": {"name": "lookup_order", "parameters": {"type": "object"}}}
    request = ChatRequest(models=("model-a",), messages=MESSAGES, temperature=None, tools=[spec])

    texts, completed = await run(openai(server, client), request)

    assert texts == []
    assert completed == Completed(
        "model-a",
        "",
        [
            {
                "id": "call_1",
                "type": "function",
                "function": {"name": "lookup_order", "arguments": '{"order_id": "A-1"}'},
            },
            {
                "id": "call_2",
                "type": "function",
                "function": {"name": "stock", "arguments": '{"sku": "B-7"}'},
            },
        ],
        Usage(40, 18),
    )
    assert server.requests[0].body["tools"] == [spec]
    assert "temperature" not in server.requests[0].body


async def test_a_tool_call_fragment_counts_as_the_first_token(
    server: FakeModelServer, client: httpx.AsyncClient
) -> None:
    call = [{"index": 0, "id": "call_1", "type": "function", "function": {"name": "stock", "arguments": "{"}}]
    server.script("model-a", Reply.stream(chunk(tool_calls=call), drop=True))

    texts, error = await run_failing(openai(server, client), TWO_MODELS)

    assert (texts, error.streamed) == ([], True)
    assert server.models_called() == ["model-a"]


async def test_the_offline_provider_is_deterministic_and_labelled() -> None:
    provider = OfflineProvider(delay_seconds=0.01)
    request = ChatRequest(models=("gpt-4o-mini",), messages=MESSAGES, temperature=None, tools=[])

    first = await run(provider, request)
    second = await run(provider, request)

    expected = '[offline demo] No AI model is configured, so this is a canned reply to: "Where is my order?"'
    assert first == second
    texts, completed = first
    assert texts[0] == "[offline "
    assert "".join(texts) == expected
    assert completed == Completed("gpt-4o-mini", expected, [], Usage(input_tokens=10, output_tokens=18))


async def test_the_offline_provider_waits_between_words() -> None:
    provider = OfflineProvider(delay_seconds=0.05)
    request = ChatRequest(
        models=("m",), messages=[{"role": "user", "content": "hi"}], temperature=None, tools=[]
    )
    started = time.monotonic()

    texts, _ = await run(provider, request)

    assert len(texts) == 15
    assert time.monotonic() - started >= 15 * 0.05


async def test_the_offline_provider_calls_a_tool_on_bang_tool_and_reports_its_answer() -> None:
    provider = OfflineProvider(delay_seconds=0)
    spec = {"type": "function", "function": {"name": "lookup_order", "parameters": {"type": "object"}}}
    ask = [*MESSAGES[:1], {"role": "user", "content": '!tool lookup_order {"order_id": "A-1"}'}]

    texts, called = await run(provider, ChatRequest(("m",), ask, None, [spec]))

    call = {
        "id": "call_offline_2",
        "type": "function",
        "function": {"name": "lookup_order", "arguments": '{"order_id": "A-1"}'},
    }
    assert (texts, called) == ([], Completed("m", "", [call], Usage(input_tokens=10, output_tokens=3)))

    answered: list[dict[str, Any]] = [
        *ask,
        {"role": "assistant", "content": "", "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "call_offline_2", "content": '{"status": "shipped"}'},
    ]
    texts, replied = await run(provider, ChatRequest(("m",), answered, None, [spec]))

    assert replied.text == '[offline demo] The tool lookup_order answered: {"status": "shipped"}'
    assert "".join(texts) == replied.text
    assert replied.tool_calls == []


async def test_provider_from_settings_picks_by_api_key(server: FakeModelServer, tmp_path: Path) -> None:
    offline = provider_from_settings(Settings(home=tmp_path, offline_delay_ms=0))
    assert isinstance(offline, OfflineProvider)
    assert offline.label == "offline"

    configured = Settings(home=tmp_path, model_base_url=server.base_url, model_api_key=server.api_key)
    provider = provider_from_settings(configured)
    try:
        assert provider.label == "127.0.0.1"
        texts, completed = await run(provider, TWO_MODELS)
    finally:
        await provider.aclose()
    assert "".join(texts) == completed.text == "You said: Where is my order?"
    assert completed.usage == Usage(10, 5)


@pytest.fixture(params=["offline", "openai-compatible"])
def any_provider(
    request: pytest.FixtureRequest, server: FakeModelServer, client: httpx.AsyncClient
) -> Provider:
    if request.param == "offline":
        return OfflineProvider(delay_seconds=0)
    return openai(server, client)


class TestProviderContract:
    """What the chat turn relies on, whichever provider answers."""

    async def test_deltas_then_one_completed_whose_text_they_spell(self, any_provider: Provider) -> None:
        texts, completed = await run(any_provider, TWO_MODELS)

        assert texts
        assert "".join(texts) == completed.text
        assert completed.model == "model-a"
        assert completed.tool_calls == []
        assert completed.usage.input_tokens > 0 and completed.usage.output_tokens > 0

    async def test_no_models_is_a_provider_error(self, any_provider: Provider) -> None:
        texts, error = await run_failing(any_provider, ChatRequest((), MESSAGES, None, []))

        assert (texts, error.streamed, error.code) == ([], False, "models_unavailable")

    async def test_a_label_to_show(self, any_provider: Provider) -> None:
        assert any_provider.label in {"offline", "127.0.0.1"}
