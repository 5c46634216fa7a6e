"""Every reply kind end to end: the real openai SDK against a real running mockllm.

Each kind is asked for twice with the same seed, once as a plain request and once
through the SDK's ``chat.completions.stream()`` helper; the streamed message must
accumulate to the plain one, and the plain reply must conform to the generated
ChatResponse schema. Scenarios are added per test through the ``mockllm`` fixture.
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import av
import jsonschema
import numpy as np
import openai
import pydantic
import pytest

from mockllm.pytest_plugin import MockLLM
from mockllm.reply_engine.audio import duration_for_text
from mockllm.schemaset import SchemaSet
from mockllm.validation import ResponseValidator

USER = [{"role": "user", "content": "What is the weather in Paris?"}]
WEATHER_PARAMS: dict[str, Any] = {
    "type": "object",
    "properties": {
        "city": {"type": "string", "minLength": 1},
        "days": {"type": "integer", "minimum": 1, "maximum": 7},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
    },
    "required": ["city", "days", "unit"],
    "additionalProperties": False,
}
TIME_PARAMS: dict[str, Any] = {
    "type": "object",
    "properties": {"zone": {"type": "string", "pattern": "^[A-Z][a-z]+/[A-Z][a-z]+$"}},
    "required": ["zone"],
}
TOOLS = [
    {"type": "function", "function": {"name": "get_weather", "parameters": WEATHER_PARAMS}},
    {"type": "function", "function": {"name": "get_time", "parameters": TIME_PARAMS}},
]
PARAMS_BY_NAME = {t["function"]["name"]: t["function"]["parameters"] for t in TOOLS}
# 24 kHz mono, as OpenAI's audio replies; roughly 150 spoken words a minute.
SAMPLE_RATE = 24_000


@pytest.fixture(scope="module")
def response_validator() -> ResponseValidator:
    """The generated ChatResponse schema, compiled once for the module."""
    return ResponseValidator(SchemaSet.load())


@pytest.fixture()
def client(mockllm: MockLLM) -> openai.OpenAI:
    """The openai SDK on the plugin's server, without retries."""
    return openai.OpenAI(base_url=mockllm.base_url, api_key="sk-test", max_retries=0)


def _message(completion: Any) -> dict[str, Any]:
    """A choice's message as plain data, without the SDK helper's parsed extras."""
    message = completion.choices[0].message.model_dump(exclude_none=True)
    message.pop("parsed", None)
    for call in message.get("tool_calls") or ():
        call["function"].pop("parsed_arguments", None)
        call.pop("index", None)  # the SDK's accumulator keeps the delta's index
    if not message.get("annotations"):  # streams send no annotations when there are none
        message.pop("annotations", None)
    return message


def ask(client: openai.OpenAI, validator: ResponseValidator, **params: Any) -> Any:
    """One plain request (schema-checked) and the same one streamed; they must agree."""
    params.setdefault("model", "gpt-4o")
    params.setdefault("messages", USER)
    params.setdefault("seed", 7)
    raw = client.chat.completions.with_raw_response.create(**params)
    assert validator.validate(raw.http_response.json()) == []
    plain = raw.parse()
    with client.chat.completions.stream(**params) as stream:
        final = stream.get_final_completion()
    assert _message(final) == _message(plain)
    assert final.choices[0].finish_reason == plain.choices[0].finish_reason
    if plain.choices[0].logprobs is not None:
        assert final.choices[0].logprobs == plain.choices[0].logprobs
    return plain


def parse_either(client: openai.OpenAI, streamed: bool, **params: Any) -> Any:
    """The SDK's parsed completion, from ``parse()`` or from the ``stream()`` helper."""
    if streamed:
        with client.chat.completions.stream(**params) as stream:
            return stream.get_final_completion()
    return client.chat.completions.parse(**params)


def sse_chunks(client: openai.OpenAI, **params: Any) -> list[dict[str, Any]]:
    """The raw ``data:`` events of a stream, as JSON, up to ``[DONE]``."""
    params.setdefault("model", "gpt-4o")
    params.setdefault("messages", USER)
    events: list[dict[str, Any]] = []
    with client.chat.completions.with_streaming_response.create(stream=True, **params) as rsp:
        for line in rsp.iter_lines():
            if not line.startswith("data: "):
                continue
            data = line[len("data: ") :]
            if data == "[DONE]":
                break
            events.append(json.loads(data))
    return events


# --------------------------------------------------------------------------- tool calls


@pytest.mark.parametrize(
    ("reply", "prompt", "expected"),
    [
        pytest.param(
            [{"name": "get_weather", "arguments": {"city": "Paris", "days": 2, "unit": "celsius"}}],
            "weather in Paris",
            [{"city": "Paris", "days": 2, "unit": "celsius"}],
            id="canned",
        ),
        pytest.param(
            [
                {
                    "name": "get_weather",
                    "arguments": {
                        "city": "{{ city }}",
                        "days": "{{ days | int }}",
                        "unit": "fahrenheit",
                    },
                }
            ],
            "weather in Lyon for 3 days",
            [{"city": "Lyon", "days": 3, "unit": "fahrenheit"}],
            id="templated",
        ),
        pytest.param(
            [
                {
                    "name": "get_weather",
                    "arguments": {"city": "Rome", "days": 1, "unit": "celsius"},
                },
                {"name": "get_time", "arguments": '{"zone": "Europe/Rome"}'},
                {"name": "get_weather"},
            ],
            "weather in Rome",
            [{"city": "Rome", "days": 1, "unit": "celsius"}, {"zone": "Europe/Rome"}, None],
            id="parallel-with-generated",
        ),
    ],
)
def test_scenario_tool_calls(
    mockllm: MockLLM,
    client: openai.OpenAI,
    response_validator: ResponseValidator,
    reply: list[dict],
    prompt: str,
    expected: list[dict | None],
) -> None:
    mockllm.add(
        {
            "name": "tools",
            "when": {
                "last_user_message": {
                    "regex": r"weather in (?P<city>\w+)(?: for (?P<days>\d+) days)?"
                }
            },
            "reply": {"tool_calls": reply},
        }
    )
    completion = ask(
        client, response_validator, tools=TOOLS, messages=[{"role": "user", "content": prompt}]
    )
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    calls = choice.message.tool_calls
    assert [c.function.name for c in calls] == [r["name"] for r in reply]
    assert len({c.id for c in calls}) == len(calls)
    for call, want in zip(calls, expected, strict=True):
        arguments = json.loads(call.function.arguments)
        jsonschema.validate(arguments, PARAMS_BY_NAME[call.function.name])
        if want is not None:
            assert arguments == want


@pytest.mark.parametrize(
    ("tool_choice", "name", "finish"),
    [
        ("required", "get_weather", "tool_calls"),
        # OpenAI answers "stop" for a function forced by name (vllm-project/vllm#25054).
        ({"type": "function", "function": {"name": "get_time"}}, "get_time", "stop"),
    ],
)
def test_forced_tool_choice_without_scenario_calls_the_tool(
    client: openai.OpenAI,
    response_validator: ResponseValidator,
    tool_choice: Any,
    name: str,
    finish: str,
) -> None:
    completion = ask(client, response_validator, tools=TOOLS, tool_choice=tool_choice)
    choice = completion.choices[0]
    assert choice.finish_reason == finish
    # ask() compared the streamed finish reason; check the raw last chunk as well.
    chunks = sse_chunks(client, tools=TOOLS, tool_choice=tool_choice, seed=7)
    assert [
        c["choices"][0]["finish_reason"]
        for c in chunks
        if c["choices"] and c["choices"][0]["finish_reason"]
    ] == [finish]
    assert choice.message.content is None
    [call] = choice.message.tool_calls
    assert call.type == "function" and call.function.name == name
    jsonschema.validate(json.loads(call.function.arguments), PARAMS_BY_NAME[name])


def test_tool_call_stream_wire_shape(mockllm: MockLLM, client: openai.OpenAI) -> None:
    mockllm.add(
        {
            "name": "two-calls",
            "reply": {
                "tool_calls": [
                    {
                        "name": "get_weather",
                        "arguments": {"city": "Paris", "days": 5, "unit": "celsius"},
                    },
                    {"name": "get_time", "arguments": {"zone": "Europe/Paris"}},
                ]
            },
        }
    )
    chunks = sse_chunks(client, tools=TOOLS, seed=3)
    deltas = [d for c in chunks for d in c["choices"][0]["delta"].get("tool_calls") or ()]
    assert all("index" in d for d in deltas)
    by_index: dict[int, list[dict[str, Any]]] = {}
    for delta in deltas:
        by_index.setdefault(delta["index"], []).append(delta)
    assert sorted(by_index) == [0, 1]
    for pieces in by_index.values():
        first, rest = pieces[0], pieces[1:]
        assert first["id"].startswith("call_") and first["type"] == "function"
        assert first["function"]["name"]
        for later in rest:
            assert set(later) == {"index", "function"}
            assert set(later["function"]) == {"arguments"}
        fragments = [p["function"].get("arguments", "") for p in pieces]
        assert sum(1 for f in fragments if f) >= 2  # arguments really arrive in pieces
        assert isinstance(json.loads("".join(fragments)), dict)
    finishes = [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]]
    assert finishes.count("tool_calls") == 1 and finishes[-1] == "tool_calls"


# --------------------------------------------------------------------------- agent loop

# Each step answers once per conversation: were the two conversations' counts shared,
# the second conversation would fall through to the built-in replies.
_PER_CONVERSATION = {"conversation": {"key": "header", "header": "X-Conversation-Id"}, "times": 1}
AGENT_LOOP = [
    {
        "name": "ask-tool",
        **_PER_CONVERSATION,
        "when": {
            "tools": "get_weather",
            "last_role": "user",
            "last_user_message": {"regex": r"in (?P<city>\w+)"},
        },
        "reply": {
            "tool_calls": [
                {
                    "name": "get_weather",
                    "arguments": {"city": "{{ city }}", "days": 1, "unit": "celsius"},
                }
            ]
        },
    },
    {
        "name": "final-answer",
        **_PER_CONVERSATION,
        "when": {
            "last_role": "tool",
            "tool_result": {"name": "get_weather", "regex": r"(?P<city>\w+): (?P<temp>-?\d+) C"},
        },
        "reply": {"content": "It is {{ temp }} degrees in {{ city }}."},
    },
]


def _agent_turn(client: openai.OpenAI, conversation: str, messages: list[dict]) -> Any:
    return client.chat.completions.create(
        model="gpt-4o",
        messages=messages,
        tools=TOOLS,
        extra_headers={"X-Conversation-Id": conversation},
    )


def test_agent_loop_interleaved_conversations_do_not_cross_fire(
    mockllm: MockLLM, client: openai.OpenAI
) -> None:
    mockllm.add(AGENT_LOOP)
    temps = {"Paris": 21, "Oslo": -4}
    histories = {
        city: [{"role": "user", "content": f"What is the weather in {city}?"}] for city in temps
    }
    # Both conversations ask first, then both answer: their turns interleave on the server.
    for city, history in histories.items():
        reply = _agent_turn(client, f"conv-{city}", history)
        assert reply.choices[0].finish_reason == "tool_calls"
        [call] = reply.choices[0].message.tool_calls
        assert json.loads(call.function.arguments)["city"] == city
        history.append(reply.choices[0].message.model_dump(exclude_none=True))
        history.append(
            {"role": "tool", "tool_call_id": call.id, "content": f"{city}: {temps[city]} C"}
        )
    for city, history in reversed(list(histories.items())):
        final = _agent_turn(client, f"conv-{city}", history)
        assert final.choices[0].finish_reason == "stop"
        assert final.choices[0].message.content == f"It is {temps[city]} degrees in {city}."
    mockllm.assert_called("ask-tool", 2)
    mockllm.assert_called("final-answer", 2)


# --------------------------------------------------------------------------- structured output


class Forecast(pydantic.BaseModel):
    """The structured reply the parse() helper asks for."""

    city: str
    temperature: float
    sunny: bool
    hours: list[int]


def test_json_object_content_is_an_object(
    client: openai.OpenAI, response_validator: ResponseValidator
) -> None:
    completion = ask(client, response_validator, response_format={"type": "json_object"})
    assert isinstance(json.loads(completion.choices[0].message.content), dict)


def test_json_schema_content_validates(
    client: openai.OpenAI, response_validator: ResponseValidator
) -> None:
    schema = Forecast.model_json_schema()
    completion = ask(
        client,
        response_validator,
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "forecast", "schema": schema},
        },
    )
    jsonschema.validate(json.loads(completion.choices[0].message.content), schema)


@pytest.mark.parametrize("streamed", [False, True])
def test_parse_helpers_build_the_pydantic_model(client: openai.OpenAI, streamed: bool) -> None:
    params: dict[str, Any] = {
        "model": "gpt-4o",
        "messages": USER,
        "seed": 4,
        "response_format": Forecast,
    }
    completion = parse_either(client, streamed, **params)
    parsed = completion.choices[0].message.parsed
    assert isinstance(parsed, Forecast)
    assert parsed == Forecast.model_validate_json(completion.choices[0].message.content)


class GetWeather(pydantic.BaseModel):
    """A strict tool for the SDK's parsing helpers."""

    city: str
    days: int = pydantic.Field(ge=1, le=7)


@pytest.mark.parametrize("streamed", [False, True])
def test_parse_helpers_build_strict_tool_arguments(client: openai.OpenAI, streamed: bool) -> None:
    params: dict[str, Any] = {
        "model": "gpt-4o",
        "messages": USER,
        "seed": 8,
        "tools": [openai.pydantic_function_tool(GetWeather)],
        "tool_choice": "required",
    }
    completion = parse_either(client, streamed, **params)
    [call] = completion.choices[0].message.tool_calls
    assert isinstance(call.function.parsed_arguments, GetWeather)
    assert call.function.parsed_arguments == GetWeather.model_validate_json(call.function.arguments)


# --------------------------------------------------------------------------- audio


def _decoded(data: bytes, fmt: str) -> tuple[Any, int]:
    """The samples of an audio reply as floats in [-1, 1], and their rate."""
    if fmt == "pcm16":
        assert len(data) % 2 == 0
        return np.frombuffer(data, dtype="<i2") / 32768, SAMPLE_RATE
    import io

    pieces = []
    rate = 0
    with av.open(io.BytesIO(data)) as container:
        for frame in container.decode(audio=0):
            values = frame.to_ndarray().reshape(-1).astype(np.float64)
            pieces.append(values / 32768 if frame.format.name.startswith("s16") else values)
            rate = frame.sample_rate
    assert rate > 0
    return np.concatenate(pieces), rate


@pytest.mark.parametrize("fmt", ["wav", "mp3", "flac", "opus", "pcm16", "aac"])
def test_audio_is_audible_and_as_long_as_its_transcript(
    client: openai.OpenAI, response_validator: ResponseValidator, fmt: str
) -> None:
    completion = ask(
        client,
        response_validator,
        model="gpt-4o-audio-preview",
        modalities=["text", "audio"],
        audio={"voice": "alloy", "format": fmt},
    )
    audio = completion.choices[0].message.audio
    assert audio is not None and audio.transcript
    samples, rate = _decoded(base64.b64decode(audio.data), fmt)
    # A quiet hum (RMS about 0.02 of full scale) in every format, not silence.
    assert float(np.sqrt(np.mean(np.square(samples)))) > 0.005, fmt
    # As long as the transcript takes to say (about 150 words a minute); MP3 and AAC
    # add under 0.1 s of encoder delay.
    expected = duration_for_text(audio.transcript)
    assert 0.3 <= expected / len(audio.transcript.split()) <= 0.6
    assert expected - 0.02 <= len(samples) / rate <= expected + 0.1
    details = completion.usage.completion_tokens_details
    assert details is not None and details.audio_tokens and details.audio_tokens > 0
    assert completion.usage.completion_tokens >= details.audio_tokens


# --------------------------------------------------------------------------- citations


def test_url_citations_slice_the_cited_span(
    mockllm: MockLLM, client: openai.OpenAI, response_validator: ResponseValidator
) -> None:
    mockllm.add(
        {
            "name": "cited",
            "reply": {
                "content": "The Eiffel Tower is 330 m tall and was finished in 1889.",
                "annotations": [
                    {"url": "https://example.com/eiffel", "title": "Eiffel", "text": "330 m"},
                    {"url": "https://example.com/history", "title": "History", "text": "1889"},
                ],
            },
        }
    )
    completion = ask(client, response_validator)
    message = completion.choices[0].message
    spans = {
        a.url_citation.url: message.content[a.url_citation.start_index : a.url_citation.end_index]
        for a in message.annotations
    }
    assert spans == {"https://example.com/eiffel": "330 m", "https://example.com/history": "1889"}
    assert all(a.type == "url_citation" for a in message.annotations)


def test_generated_citations_lie_inside_the_content(
    mockllm: MockLLM, client: openai.OpenAI, response_validator: ResponseValidator
) -> None:
    mockllm.add({"name": "cited", "reply": {"annotations": 2}})
    message = ask(client, response_validator).choices[0].message
    assert len(message.annotations) == 2
    for annotation in message.annotations:
        cite = annotation.url_citation
        assert 0 <= cite.start_index < cite.end_index <= len(message.content)
        assert cite.url.startswith("http")


# --------------------------------------------------------------------------- reasoning, refusal


def _reasoning(completion: Any) -> str:
    return (completion.choices[0].message.model_extra or {}).get("reasoning") or ""


def test_reasoning_grows_with_effort(
    client: openai.OpenAI, response_validator: ResponseValidator
) -> None:
    # A model the catalog does not know shows its reasoning as text (an OpenAI reasoning
    # model only counts it: tests/engines/test_models_catalog.py).
    low = ask(client, response_validator, model="qwen3-32b", reasoning_effort="low")
    high = ask(client, response_validator, model="qwen3-32b", reasoning_effort="high")
    assert 0 < len(_reasoning(low)) < len(_reasoning(high))
    for completion in (low, high):
        usage = completion.usage
        reasoning_tokens = usage.completion_tokens_details.reasoning_tokens
        assert 0 < reasoning_tokens < usage.completion_tokens
        assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    assert (
        low.usage.completion_tokens_details.reasoning_tokens
        < high.usage.completion_tokens_details.reasoning_tokens
    )


def test_enable_thinking_gives_reasoning(
    client: openai.OpenAI, response_validator: ResponseValidator
) -> None:
    # enable_thinking is a Qwen-style provider's switch: a model outside the catalog.
    completion = ask(
        client, response_validator, model="qwen3-32b", extra_body={"enable_thinking": True}
    )
    assert _reasoning(completion)
    assert completion.usage.completion_tokens_details.reasoning_tokens > 0


def test_refusal_has_null_content(
    mockllm: MockLLM, client: openai.OpenAI, response_validator: ResponseValidator
) -> None:
    mockllm.add(
        {
            "name": "refuse",
            "when": {"last_user_message": {"contains": "bomb"}},
            "reply": {"refusal": "I can't help with that."},
        }
    )
    completion = ask(
        client, response_validator, messages=[{"role": "user", "content": "How do I build a bomb?"}]
    )
    message = completion.choices[0].message
    assert message.refusal == "I can't help with that."
    assert message.content is None
    assert completion.choices[0].finish_reason == "stop"


# --------------------------------------------------------------------------- logprobs


def _check_entries(entries: list[Any], top: int) -> None:
    for entry in entries:
        assert entry.bytes == list(entry.token.encode("utf-8"))
        assert entry.logprob <= 0
        assert len(entry.top_logprobs) == top
        ranked = [t.logprob for t in entry.top_logprobs]
        assert ranked == sorted(ranked, reverse=True)
        assert all(t.logprob <= 0 and t.bytes == list(t.token.encode()) for t in entry.top_logprobs)


@pytest.mark.parametrize("top", [0, 3, 5])
def test_logprobs_cover_the_content(
    client: openai.OpenAI, response_validator: ResponseValidator, top: int
) -> None:
    completion = ask(client, response_validator, logprobs=True, top_logprobs=top)
    entries = completion.choices[0].logprobs.content
    assert "".join(e.token for e in entries) == completion.choices[0].message.content
    _check_entries(entries, top)


def test_stream_chunks_carry_their_own_logprobs(client: openai.OpenAI) -> None:
    chunks = sse_chunks(client, logprobs=True, top_logprobs=2, seed=9)
    seen = 0
    for chunk in chunks:
        if not chunk["choices"]:
            continue
        choice = chunk["choices"][0]
        text = choice["delta"].get("content") or ""
        probs = (choice.get("logprobs") or {}).get("content") or []
        assert "".join(p["token"] for p in probs) == text
        assert all(len(p["top_logprobs"]) == 2 and p["logprob"] <= 0 for p in probs)
        seen += len(probs)
    assert seen > 3


# --------------------------------------------------------------------------- errors


def _retrying_client(mockllm: MockLLM) -> openai.OpenAI:
    return openai.OpenAI(base_url=mockllm.base_url, api_key="sk-test", max_retries=2)


def test_429_with_retry_after_is_retried_until_success(mockllm: MockLLM) -> None:
    mockllm.add(
        {
            "name": "limited",
            "sequence": [
                {
                    "error": {
                        "status": 429,
                        "message": "Rate limit reached",
                        "headers": {"Retry-After": "0.3"},
                    }
                },
                {"content": "Finally."},
            ],
        }
    )
    started = time.monotonic()
    completion = _retrying_client(mockllm).chat.completions.create(model="gpt-4o", messages=USER)
    elapsed = time.monotonic() - started
    assert completion.choices[0].message.content == "Finally."
    assert [e.status for e in mockllm.assert_called("limited", 2)] == [429, 200]
    assert elapsed >= 0.3  # the SDK waited as Retry-After asked


def test_500_with_should_retry_false_is_not_retried(mockllm: MockLLM) -> None:
    mockllm.add(
        {
            "name": "broken",
            "reply": {
                "error": {"status": 500, "message": "Boom", "headers": {"x-should-retry": "false"}}
            },
        }
    )
    with pytest.raises(openai.InternalServerError) as info:
        _retrying_client(mockllm).chat.completions.create(model="gpt-4o", messages=USER)
    assert "Boom" in info.value.message
    mockllm.assert_called("broken", 1)


def test_scripted_400_surfaces_param_and_code(mockllm: MockLLM, client: openai.OpenAI) -> None:
    mockllm.add(
        {
            "name": "bad",
            "reply": {
                "error": {
                    "status": 400,
                    "message": "messages must not be empty",
                    "errorCode": "NotEmpty",
                    "type": "invalid_request_error",
                    "code": "invalid_value",
                    "param": "messages",
                    "field_errors": [
                        {
                            "fieldName": "Messages",
                            "param": "messages",
                            "errorCode": "NotEmpty",
                            "message": "must not be empty",
                        }
                    ],
                }
            },
        }
    )
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model="gpt-4o", messages=USER)
    error = info.value
    assert (error.status_code, error.param, error.code, error.type) == (
        400,
        "messages",
        "invalid_value",
        "invalid_request_error",
    )
    assert error.body is not None  # the SDK hands over the OpenAI envelope
    status = error.response.json()["responseStatus"]
    assert status["errorCode"] == "NotEmpty"
    assert [e["fieldName"] for e in status["errors"]] == ["Messages"]
