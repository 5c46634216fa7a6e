"""What the real API does that mockllm copies (issue 22, items 4-7 and 9), through the
openai SDK with strict response validation, streamed and not: tool_choice auto by the
--auto-tools setting, custom tools, the legacy functions form, bare-string image_url,
moderated completions and prompt caching."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from redis_server import RedisServer

from mockllm.config import AutoTools, Settings
from mockllm.conform.sse import read_stream
from mockllm.http.app import AppParts
from mockllm.server import MockLLMServer

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}
STOCKS = {
    "type": "function",
    "function": {
        "name": "get_stock_price",
        "description": "Latest price of a stock ticker",
        "parameters": {"type": "object", "properties": {"ticker": {"type": "string"}}},
    },
}
TOOLS = [STOCKS, WEATHER]
WEATHER_ASK = [{"role": "user", "content": "What is the weather in Paris today?"}]
SMALL_TALK = [{"role": "user", "content": "Tell me a joke about penguins."}]


def _client(server: MockLLMServer, *, strict: bool = True) -> openai.OpenAI:
    return openai.OpenAI(
        base_url=server.base_url,
        api_key="sk-test",
        max_retries=0,
        _strict_response_validation=strict,
    )


def _server(parts: AppParts, **settings: Any) -> MockLLMServer:
    return MockLLMServer(Settings(port=0, **settings), parts=parts)


@pytest.fixture(scope="module")
def servers(mockllm_parts: AppParts) -> Iterator[dict[str, MockLLMServer]]:
    """One server per --auto-tools mode."""
    started = {mode.value: _server(mockllm_parts, auto_tools=mode).start() for mode in AutoTools}
    yield started
    for server in started.values():
        server.stop()


def _ask(client: openai.OpenAI, stream: bool, **body: Any) -> dict[str, Any]:
    """The reply as a dict: the completion, or the stream accumulated by the SDK."""
    if stream:
        with client.chat.completions.stream(**body) as events:
            return events.get_final_completion().model_dump(exclude_unset=True)
    return client.chat.completions.create(**body).model_dump(exclude_unset=True)


# ------------------------------------------------------------------ tool_choice auto


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize(
    ("mode", "messages", "called"),
    [
        ("never", WEATHER_ASK, None),
        ("always", WEATHER_ASK, "get_weather"),
        ("always", SMALL_TALK, "*"),  # nothing fits: one of them, chosen by the seed
        ("fit", WEATHER_ASK, "get_weather"),
        ("fit", SMALL_TALK, None),
    ],
)
def test_tool_choice_auto_follows_the_auto_tools_setting(
    servers: dict[str, MockLLMServer],
    mode: str,
    messages: list[Any],
    called: str | None,
    stream: bool,
) -> None:
    reply = _ask(
        _client(servers[mode]), stream, model="gpt-4o-mini", messages=messages, tools=TOOLS, seed=4
    )
    choice = reply["choices"][0]
    if called is None:
        assert choice["finish_reason"] == "stop" and choice["message"]["content"]
        assert not choice["message"].get("tool_calls")
    else:
        [call] = choice["message"]["tool_calls"]
        assert call["function"]["name"] in (
            {"get_weather", "get_stock_price"} if called == "*" else {called}
        )
        assert choice["finish_reason"] == "tool_calls"
        json.loads(call["function"]["arguments"])


def test_a_tool_result_last_is_answered_in_text_whatever_the_setting(
    servers: dict[str, MockLLMServer],
) -> None:
    messages = [
        *WEATHER_ASK,
        {
            "role": "assistant",
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "18 C and sunny"},
    ]
    reply = _client(servers["always"]).chat.completions.create(
        model="gpt-4o-mini", messages=messages, tools=TOOLS
    )
    assert reply.choices[0].message.content and not reply.choices[0].message.tool_calls


def test_tool_choice_none_is_never_overruled(servers: dict[str, MockLLMServer]) -> None:
    reply = _client(servers["always"]).chat.completions.create(
        model="gpt-4o-mini", messages=WEATHER_ASK, tools=TOOLS, tool_choice="none"
    )
    assert reply.choices[0].message.tool_calls is None


# ------------------------------------------------------------------ custom tools


CUSTOM = {"type": "custom", "custom": {"name": "run_sql", "description": "Run a SQL query"}}
CODE = {
    "type": "custom",
    "custom": {
        "name": "ticket_id",
        "format": {"type": "grammar", "grammar": {"syntax": "regex", "definition": "TCK-[0-9]{6}"}},
    },
}


@pytest.mark.parametrize(
    "tool_choice", ["required", {"type": "custom", "custom": {"name": "run_sql"}}]
)
def test_a_custom_tool_is_called_in_the_custom_shape(
    live_server: MockLLMServer, tool_choice: Any
) -> None:
    reply = _client(live_server).chat.completions.create(
        model="gpt-4o-mini", messages=SMALL_TALK, tools=[CUSTOM], tool_choice=tool_choice
    )
    [call] = reply.choices[0].message.tool_calls or []
    assert call.type == "custom" and call.id.startswith("call_")
    assert call.custom.name == "run_sql" and call.custom.input  # type: ignore[union-attr]
    expected = "tool_calls" if tool_choice == "required" else "stop"
    assert reply.choices[0].finish_reason == expected


def test_a_custom_tool_with_a_regex_grammar_gets_matching_input(live_server: MockLLMServer) -> None:
    reply = _client(live_server).chat.completions.create(
        model="gpt-4o-mini", messages=SMALL_TALK, tools=[CODE], tool_choice="required"
    )
    [call] = reply.choices[0].message.tool_calls or []
    assert call.type == "custom"
    text = call.custom.input  # type: ignore[union-attr]
    assert text.startswith("TCK-") and len(text) == 10 and text[4:].isdigit()


def test_a_streamed_custom_call_opens_with_its_name_and_sends_its_input_in_pieces(
    live_server: MockLLMServer,
) -> None:
    # The SDK's chunk type knows function calls only (its strict mode refuses
    # "type": "custom" in a delta), so the stream is read with the conformance rules.
    request = urllib.request.Request(
        live_server.base_url + "/chat/completions",
        headers={"Content-Type": "application/json"},
        data=json.dumps(
            {
                "model": "gpt-4o-mini",
                "messages": SMALL_TALK,
                "tools": [CUSTOM],
                "tool_choice": "required",
                "stream": True,
                "seed": 2,
            }
        ).encode(),
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        raw = response.read().decode()
    chunks = [json.loads(line[6:]) for line in raw.split("\n\n") if line.startswith("data: {")]
    calls = [
        c["choices"][0]["delta"]["tool_calls"][0]
        for c in chunks
        if c["choices"] and c["choices"][0]["delta"].get("tool_calls")
    ]
    assert calls[0]["type"] == "custom" and calls[0]["custom"] == {"name": "run_sql", "input": ""}
    text = "".join(c["custom"]["input"] for c in calls[1:])
    assert text and all(set(c) == {"index", "custom"} for c in calls[1:])
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"
    assert read_stream(raw.encode()).problems == {}


# ------------------------------------------------------------------ legacy functions


FUNCTIONS = [WEATHER["function"], STOCKS["function"]]


@pytest.mark.parametrize("stream", [False, True])
def test_the_legacy_functions_form_gets_a_function_call(
    live_server: MockLLMServer, stream: bool
) -> None:
    client = _client(live_server)
    body: dict[str, Any] = {
        "model": "gpt-4o-mini",
        "messages": WEATHER_ASK,
        "functions": FUNCTIONS,
        "function_call": {"name": "get_weather"},
    }
    if stream:
        chunks = list(client.chat.completions.create(**body, stream=True))
        deltas = [c.choices[0].delta for c in chunks if c.choices]
        assert deltas[0].role == "assistant"
        name = "".join(d.function_call.name or "" for d in deltas if d.function_call)
        arguments = "".join(d.function_call.arguments or "" for d in deltas if d.function_call)
        finish = [c.choices[0].finish_reason for c in chunks if c.choices][-1]
        assert not any(d.tool_calls for d in deltas)
    else:
        reply = client.chat.completions.create(**body)
        message = reply.choices[0].message
        assert message.function_call is not None and message.tool_calls is None
        name, arguments = message.function_call.name, message.function_call.arguments
        finish = reply.choices[0].finish_reason
    assert name == "get_weather" and "city" in json.loads(arguments)
    assert finish == "function_call"


def test_legacy_functions_without_a_named_call_get_text(live_server: MockLLMServer) -> None:
    reply = _client(live_server).chat.completions.create(
        model="gpt-4o-mini", messages=WEATHER_ASK, functions=FUNCTIONS
    )
    assert reply.choices[0].message.function_call is None
    assert reply.choices[0].message.content


# ------------------------------------------------------------------ bare-string image_url


@pytest.mark.parametrize("stream", [False, True])
def test_an_image_url_given_as_a_bare_string_is_accepted(
    live_server: MockLLMServer, stream: bool
) -> None:
    messages: Any = [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is in this picture?"},
                {"type": "image_url", "image_url": "https://example.com/cat.png"},
            ],
        }
    ]
    reply = _ask(
        _client(live_server),
        stream,
        model="gpt-4o",
        messages=messages,
        stream_options={"include_usage": True} if stream else openai.omit,
    )
    assert reply["choices"][0]["message"]["content"]
    assert reply["usage"]["prompt_tokens"] > 85  # the image is counted


# ------------------------------------------------------------------ moderation


@pytest.mark.parametrize("stream", [False, True])
def test_a_moderated_completion_carries_its_moderation(
    live_server: MockLLMServer, stream: bool
) -> None:
    client = _client(live_server)
    body: dict[str, Any] = {
        "model": "gpt-4o-mini",
        "messages": SMALL_TALK,
        "extra_body": {"moderation": {"model": "omni-moderation-latest"}},
    }
    if stream:
        chunks = list(
            client.chat.completions.create(
                **body, stream=True, stream_options={"include_usage": True}
            )
        )
        assert chunks[-2].usage is not None and chunks[-2].choices == []
        last = chunks[-1]
        assert last.choices == [] and last.moderation is not None
        moderation = last.moderation
        assert all(c.moderation is None for c in chunks[:-1])
    else:
        reply = client.chat.completions.create(**body)
        assert reply.moderation is not None
        moderation = reply.moderation
    for part in (moderation.input, moderation.output):
        assert part.type == "moderation_results"
        [result] = part.results  # type: ignore[union-attr]
        assert result.flagged is False and result.model == "omni-moderation-latest"
        assert set(result.categories) == set(result.category_scores)
        assert result.category_applied_input_types["violence"] == ["text", "image"]


def test_a_scenario_can_flag_content(mockllm_server: MockLLMServer, mockllm: Any) -> None:
    mockllm.add(
        {
            "name": "flagged",
            "reply": {"content": "No.", "moderation": {"input": ["violence", "harassment"]}},
        }
    )
    reply = _client(mockllm_server).chat.completions.create(
        model="gpt-4o-mini", messages=SMALL_TALK, extra_body={"moderation": {}}
    )
    assert reply.moderation is not None
    [result] = reply.moderation.input.results  # type: ignore[union-attr]
    assert result.flagged and result.categories["violence"] and result.categories["harassment"]
    assert not result.categories["hate"] and result.category_scores["violence"] > 0.9
    [clean] = reply.moderation.output.results  # type: ignore[union-attr]
    assert not clean.flagged


# ------------------------------------------------------------------ prompt caching


def _long_prompt(tag: str) -> list[dict[str, str]]:
    return [
        {"role": "system", "content": f"{tag} " + "You are a careful assistant. " * 300},
        {"role": "user", "content": "Summarise the policy."},
    ]


@pytest.mark.parametrize("stream", [False, True])
def test_a_long_prompt_sent_again_reads_the_cache(live_server: MockLLMServer, stream: bool) -> None:
    client = _client(live_server)
    messages = _long_prompt(f"cache-{stream}")

    def usage() -> dict[str, Any]:
        if stream:
            chunks = list(
                client.chat.completions.create(
                    model="gpt-4o-mini",
                    messages=messages,
                    stream=True,
                    stream_options={"include_usage": True},
                )
            )
            assert chunks[-1].usage is not None
            return chunks[-1].usage.model_dump(exclude_unset=True)
        reply = client.chat.completions.create(model="gpt-4o-mini", messages=messages)
        assert reply.usage is not None
        return reply.usage.model_dump(exclude_unset=True)

    first, second = usage(), usage()
    assert first["prompt_tokens"] >= 1024
    assert first["prompt_tokens_details"]["cached_tokens"] == 0
    assert "cache_write_tokens" not in first["prompt_tokens_details"]
    cached = second["prompt_tokens_details"]["cached_tokens"]
    assert 1024 <= cached <= second["prompt_tokens"] and (cached - 1024) % 128 == 0


def test_prompt_cache_options_report_the_tokens_written(live_server: MockLLMServer) -> None:
    client = _client(live_server)
    body: dict[str, Any] = {
        "model": "gpt-4.1",
        "messages": _long_prompt("written"),
        "extra_body": {"prompt_cache_options": {"mode": "implicit"}},
    }
    first = client.chat.completions.create(**body).usage
    second = client.chat.completions.create(**body).usage
    assert first is not None and first.prompt_tokens_details is not None
    assert second is not None and second.prompt_tokens_details is not None
    assert (
        first.prompt_tokens_details.cache_write_tokens
        == second.prompt_tokens_details.cached_tokens
        >= 1024
    )


def test_short_prompts_and_unknown_models_are_never_cached(live_server: MockLLMServer) -> None:
    client = _client(live_server)
    for model, messages in [("gpt-4o-mini", SMALL_TALK), ("my-model", _long_prompt("own"))]:
        for _ in range(2):
            usage = client.chat.completions.create(model=model, messages=messages).usage
            assert usage is not None and usage.prompt_tokens_details is not None
            assert usage.prompt_tokens_details.cached_tokens == 0


def test_the_prompt_cache_is_shared_by_servers_sharing_a_store(
    mockllm_parts: AppParts, redis_server: RedisServer
) -> None:
    state = {"state": redis_server.url, "state_prefix": "cache-test:"}
    with _server(mockllm_parts, **state) as one, _server(mockllm_parts, **state) as two:
        messages = _long_prompt("shared")
        first = _client(one).chat.completions.create(model="gpt-4o", messages=messages)
        again = _client(two).chat.completions.create(model="gpt-4o", messages=messages)
    assert first.usage is not None and first.usage.prompt_tokens_details is not None
    assert again.usage is not None and again.usage.prompt_tokens_details is not None
    assert first.usage.prompt_tokens_details.cached_tokens == 0
    assert (again.usage.prompt_tokens_details.cached_tokens or 0) >= 1024
