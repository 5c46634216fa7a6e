"""The real openai SDK against a real running mockllm: what users do first."""

from __future__ import annotations

import json
import urllib.request

import openai
import pytest

from mockllm.server import MockLLMServer

MESSAGES = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "Tell me about the sea."},
]


def test_plain_completion_has_the_openai_shape(openai_client: openai.OpenAI) -> None:
    reply = openai_client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert reply.id.startswith("chatcmpl-")
    assert reply.object == "chat.completion"
    assert reply.model == "gpt-4o-mini-2024-07-18"  # the alias answers with its snapshot
    choice = reply.choices[0]
    assert choice.finish_reason == "stop"
    assert choice.message.role == "assistant"
    assert isinstance(choice.message.content, str) and len(choice.message.content.split()) >= 3
    assert reply.usage is not None
    assert reply.usage.prompt_tokens > 0
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + reply.usage.completion_tokens


def test_n_choices_differ(openai_client: openai.OpenAI) -> None:
    reply = openai_client.chat.completions.create(model="gpt-4o", messages=MESSAGES, n=2, seed=3)
    assert [c.index for c in reply.choices] == [0, 1]
    assert reply.choices[0].message.content != reply.choices[1].message.content
    assert reply.usage is not None
    assert reply.usage.completion_tokens >= 2


def test_stop_sequence_truncates_like_a_model(openai_client: openai.OpenAI) -> None:
    full = openai_client.chat.completions.create(model="gpt-4o", messages=MESSAGES, seed=11)
    text = full.choices[0].message.content or ""
    words = text.split()
    stop_word = words[len(words) // 2]
    cut = openai_client.chat.completions.create(
        model="gpt-4o", messages=MESSAGES, seed=11, stop=[stop_word, "@@never@@"]
    )
    content = cut.choices[0].message.content or ""
    assert stop_word not in content
    assert text.startswith(content)
    assert content == text[: text.index(stop_word)]
    assert cut.choices[0].finish_reason == "stop"


@pytest.mark.parametrize("field", ["max_completion_tokens", "max_tokens"])
def test_max_tokens_truncates_with_finish_reason_length(
    openai_client: openai.OpenAI, field: str
) -> None:
    reply = openai_client.chat.completions.create(
        model="gpt-4o", messages=MESSAGES, seed=5, **{field: 3}
    )
    assert reply.choices[0].finish_reason == "length"
    assert reply.usage is not None and reply.usage.completion_tokens == 3
    full = openai_client.chat.completions.create(model="gpt-4o", messages=MESSAGES, seed=5)
    assert (full.choices[0].message.content or "").startswith(
        reply.choices[0].message.content or "\0"
    )


def test_stream_accumulates_to_the_same_message(openai_client: openai.OpenAI) -> None:
    plain = openai_client.chat.completions.create(model="gpt-4o", messages=MESSAGES, seed=21)
    with openai_client.chat.completions.stream(
        model="gpt-4o", messages=MESSAGES, seed=21
    ) as stream:
        final = stream.get_final_completion()
    assert final.choices[0].message.content == plain.choices[0].message.content
    assert final.choices[0].finish_reason == "stop"


def test_stream_without_usage_has_no_usage_chunk(openai_client: openai.OpenAI) -> None:
    chunks = list(
        openai_client.chat.completions.create(
            model="gpt-4o", messages=MESSAGES, stream=True, seed=2
        )
    )
    assert chunks[0].choices[0].delta.role == "assistant"
    assert all(c.choices[0].delta.role is None for c in chunks[1:] if c.choices)
    assert all(c.usage is None for c in chunks)
    assert len({c.id for c in chunks}) == 1
    assert [c.choices[0].finish_reason for c in chunks].count("stop") == 1


def test_stream_with_include_usage_ends_with_a_usage_chunk(openai_client: openai.OpenAI) -> None:
    chunks = list(
        openai_client.chat.completions.create(
            model="gpt-4o",
            messages=MESSAGES,
            stream=True,
            seed=2,
            stream_options={"include_usage": True},
        )
    )
    last = chunks[-1]
    assert last.choices == [] and last.usage is not None
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    plain = openai_client.chat.completions.create(model="gpt-4o", messages=MESSAGES, seed=2)
    assert text == plain.choices[0].message.content
    assert last.usage.completion_tokens == plain.usage.completion_tokens  # type: ignore[union-attr]


def test_bad_request_raises_with_the_field_named(openai_client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        openai_client.chat.completions.create(model="gpt-4o", messages=MESSAGES, temperature=3)
    err = info.value
    assert err.status_code == 400
    assert err.param == "temperature"
    assert err.type == "invalid_request_error"
    assert "Temperature" in json.dumps(err.body) or "temperature" in str(err.message)
    assert err.request_id and err.request_id.startswith("req_")


def _post_raw(server: MockLLMServer, body: dict) -> bytes:
    request = urllib.request.Request(
        server.base_url + "/chat/completions",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request) as response:
        return response.read()


def test_same_request_and_seed_gives_the_same_bytes(live_server: MockLLMServer) -> None:
    body = {"model": "gpt-4o", "messages": MESSAGES, "seed": 42, "n": 2}
    first, second = _post_raw(live_server, body), _post_raw(live_server, body)
    assert first == second
    other = _post_raw(live_server, {**body, "seed": 43})
    assert other != first
    assert json.loads(first)["id"] != json.loads(other)["id"]


def test_usage_is_counted_in_the_encoding_of_the_model(openai_client: openai.OpenAI) -> None:
    # cl100k_base (gpt-4) spends 31 tokens on this Hindi text, o200k_base (gpt-4o) 10.
    text = "नमस्ते दुनिया, यह एक परीक्षण है"
    prompt = {}
    for model in ("gpt-4", "gpt-4o"):
        reply = openai_client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": text}], seed=1
        )
        assert reply.usage is not None
        prompt[model] = reply.usage.prompt_tokens
    assert prompt == {"gpt-4": 7 + 31, "gpt-4o": 7 + 10}


def test_an_invalid_json_schema_is_a_400_naming_the_field(openai_client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        openai_client.chat.completions.create(
            model="gpt-4o",
            messages=MESSAGES,
            response_format={
                "type": "json_schema",
                "json_schema": {"name": "x", "schema": {"type": "bogus"}},
            },
        )
    error = caught.value
    assert error.status_code == 400
    assert error.param == "response_format.json_schema.schema"
    assert error.code == "invalid_json_schema"
    assert error.response.json()["error"]["message"].startswith(
        "Invalid schema for response_format 'x': In context=('type',), 'bogus' is not valid"
    )
    # ServiceStack clients read the same problem from responseStatus, in the DTO's casing.
    status = error.response.json()["responseStatus"]
    assert [(e["fieldName"], e["errorCode"]) for e in status["errors"]] == [
        ("ResponseFormat.JsonSchema.Schema", "Predicate")
    ]


def _sdk_parameters() -> set[str]:
    """Every request parameter the installed SDK declares for chat.completions.create."""
    from openai.types.chat import completion_create_params as params

    declared: set[str] = set()
    for typed in (
        params.CompletionCreateParamsBase,
        params.CompletionCreateParamsStreaming,
        params.CompletionCreateParamsNonStreaming,
    ):
        declared |= set(typed.__required_keys__) | set(typed.__optional_keys__)
    return declared


def test_the_schema_knows_every_parameter_the_sdk_sends() -> None:
    from mockllm.schemaset import SchemaSet

    known = set(SchemaSet.load().schema("ChatCompletion")["properties"])
    missing = sorted(_sdk_parameters() - known)
    assert "messages" in _sdk_parameters() and "stream" in _sdk_parameters()
    assert missing == [], (
        f"openai {openai.__version__} sends {missing}, which schemas/overlay.yaml does not "
        "define: add them there and run `mockllm schemas`"
    )


def test_prompt_cache_options_are_accepted(openai_client: openai.OpenAI) -> None:
    reply = openai_client.chat.completions.create(
        model="gpt-4o-mini",
        messages=MESSAGES,
        prompt_cache_options={"mode": "explicit", "ttl": "30m"},
    )
    assert reply.choices[0].message.content
    with pytest.raises(openai.BadRequestError, match="Mode"):
        openai_client.chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, prompt_cache_options={"mode": "sometimes"}
        )  # type: ignore[typeddict-item]
