"""The model catalog (issue 22): what each model's replies say, through the openai SDK
with strict response validation, streamed and not; model errors with --strict-models;
the catalog's files and their load errors."""

from __future__ import annotations

import json
import re
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from mockllm.catalog import load_catalog
from mockllm.config import Settings
from mockllm.errors import ScenarioLoadError
from mockllm.http.app import AppParts
from mockllm.server import MockLLMServer

ASK = [{"role": "user", "content": "What is the capital of France?"}]


def _client(server: MockLLMServer) -> openai.OpenAI:
    return openai.OpenAI(
        base_url=server.base_url, api_key="sk-test", max_retries=0, _strict_response_validation=True
    )


@pytest.fixture(scope="module")
def strict_server(
    mockllm_parts: AppParts,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[MockLLMServer]:
    """A server with model errors on, and a small-context model added by --models."""
    file = tmp_path_factory.mktemp("catalog") / "models.yaml"
    file.write_text("models:\n  tiny-model: {family: gpt-4o, context_window: 50}\n")
    settings = Settings(port=0, strict_models=True, models_file=file)
    with MockLLMServer(settings, parts=mockllm_parts) as server:
        yield server


@pytest.fixture()
def client(live_server: MockLLMServer) -> openai.OpenAI:
    return _client(live_server)


# ------------------------------------------------------------------ the model a reply names


@pytest.mark.parametrize(
    ("sent", "named"),
    [
        ("gpt-4o-mini", "gpt-4o-mini-2024-07-18"),
        ("gpt-4o", "gpt-4o-2024-08-06"),
        ("gpt-5", "gpt-5-2025-08-07"),
        ("gpt-5-nano", "gpt-5-nano-2025-08-07"),
        ("o3-mini", "o3-mini-2025-01-31"),
        ("o4-mini", "o4-mini-2025-04-16"),
        ("gpt-4.1-mini", "gpt-4.1-mini-2025-04-14"),
        ("gpt-3.5-turbo", "gpt-3.5-turbo-0125"),
        ("gpt-4", "gpt-4-0613"),
        ("gpt-4o-mini-2024-07-18", "gpt-4o-mini-2024-07-18"),  # a snapshot: echoed
        ("my-own-model", "my-own-model"),  # unknown: echoed
    ],
)
@pytest.mark.parametrize("stream", [False, True])
def test_an_alias_answers_with_its_dated_snapshot(
    client: openai.OpenAI, sent: str, named: str, stream: bool
) -> None:
    if stream:
        chunks = list(client.chat.completions.create(model=sent, messages=ASK, stream=True))
        assert {chunk.model for chunk in chunks} == {named}
    else:
        assert client.chat.completions.create(model=sent, messages=ASK).model == named


_FP = re.compile(r"fp_[0-9a-f]{10}")


@pytest.mark.parametrize(
    ("model", "fingerprinted"),
    [
        ("gpt-4o-mini", True),
        ("gpt-4.1", True),
        ("o3-mini", True),
        ("gpt-5", False),
        ("gpt-5-mini", False),
        ("o4-mini", False),
        ("gpt-3.5-turbo", False),
        ("gpt-4", False),
    ],
)
@pytest.mark.parametrize("stream", [False, True])
def test_system_fingerprint_follows_the_catalog(
    client: openai.OpenAI, model: str, fingerprinted: bool, stream: bool
) -> None:
    if stream:
        prints = {
            c.system_fingerprint
            for c in client.chat.completions.create(model=model, messages=ASK, stream=True)
        }
    else:
        prints = {client.chat.completions.create(model=model, messages=ASK).system_fingerprint}
    assert len(prints) == 1
    [found] = prints
    assert (_FP.fullmatch(found) is not None) if fingerprinted else found is None


# ------------------------------------------------------------------ reasoning models


def _raw(server: MockLLMServer, body: dict[str, Any]) -> bytes:
    request = urllib.request.Request(
        server.base_url + "/chat/completions",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return bytes(response.read())


@pytest.mark.parametrize("model", ["gpt-5", "gpt-5-mini", "o3-mini", "o4-mini", "o1"])
def test_a_reasoning_model_always_reasons_and_counts_it_in_completion_tokens(
    client: openai.OpenAI, model: str
) -> None:
    with client.chat.completions.stream(
        model=model, messages=ASK, seed=1, stream_options={"include_usage": True}
    ) as events:
        streamed = events.get_final_completion()
    reply = client.chat.completions.create(model=model, messages=ASK, seed=1)
    assert streamed.usage == reply.usage
    assert streamed.choices[0].message.content == reply.choices[0].message.content
    usage = reply.usage
    assert usage is not None and usage.completion_tokens_details is not None
    reasoning = usage.completion_tokens_details.reasoning_tokens or 0
    assert reasoning > 0
    text = reply.choices[0].message.content or ""
    assert usage.completion_tokens > reasoning and text
    # No reasoning text and no logprobs key for an OpenAI reasoning model.
    raw = reply.choices[0].model_dump(exclude_unset=True)
    assert "logprobs" not in raw and "reasoning" not in raw["message"]


def test_more_effort_reasons_longer(client: openai.OpenAI) -> None:
    def spent(effort: Any) -> int:
        reply = client.chat.completions.create(
            model="gpt-5", messages=ASK, seed=3, reasoning_effort=effort
        )
        assert reply.usage is not None and reply.usage.completion_tokens_details is not None
        return reply.usage.completion_tokens_details.reasoning_tokens or 0

    assert spent("minimal") == 0 < spent("low") < spent(openai.omit) < spent("high")


def test_a_non_reasoning_model_does_not_reason(client: openai.OpenAI) -> None:
    reply = client.chat.completions.create(model="gpt-4o", messages=ASK)
    assert reply.usage is not None and reply.usage.completion_tokens_details is not None
    assert reply.usage.completion_tokens_details.reasoning_tokens == 0
    assert reply.choices[0].logprobs is None
    assert "logprobs" in reply.choices[0].model_dump(exclude_unset=True)


def test_reasoning_models_send_no_logprobs_key_in_json_or_chunks(
    live_server: MockLLMServer,
) -> None:
    body = json.loads(_raw(live_server, {"model": "gpt-5", "messages": ASK}))
    assert "logprobs" not in body["choices"][0]
    stream = _raw(live_server, {"model": "gpt-5", "messages": ASK, "stream": True})
    chunks = [
        json.loads(line[6:]) for line in stream.decode().split("\n\n") if line.startswith("data: {")
    ]
    assert chunks and all("logprobs" not in c for chunk in chunks for c in chunk["choices"])
    plain = json.loads(_raw(live_server, {"model": "gpt-4o", "messages": ASK}))
    assert plain["choices"][0]["logprobs"] is None


@pytest.mark.parametrize("stream", [False, True])
def test_a_budget_spent_reasoning_leaves_empty_content_and_length(
    client: openai.OpenAI, stream: bool
) -> None:
    # The best-known gpt-5 pitfall: max_completion_tokens runs out while reasoning.
    ask: dict[str, Any] = {
        "model": "gpt-5",
        "messages": ASK,
        "max_completion_tokens": 16,
        "seed": 5,
    }
    if stream:
        chunks = list(
            client.chat.completions.create(
                **ask, stream=True, stream_options={"include_usage": True}
            )
        )
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        finish = [c.choices[0].finish_reason for c in chunks if c.choices][-1]
        usage = chunks[-1].usage
    else:
        reply = client.chat.completions.create(**ask)
        text = reply.choices[0].message.content or ""
        assert reply.choices[0].message.content == ""
        finish, usage = reply.choices[0].finish_reason, reply.usage
    assert text == "" and finish == "length"
    assert usage is not None and usage.completion_tokens == 16
    assert usage.completion_tokens_details is not None
    assert usage.completion_tokens_details.reasoning_tokens == 16


def test_a_scenario_may_still_give_reasoning_text(
    mockllm_server: MockLLMServer, mockllm: Any
) -> None:
    mockllm.add(
        {
            "name": "thinks",
            "when": {"model": "gpt-5"},
            "reply": {"reasoning": "Paris is in France.", "content": "Paris."},
        }
    )
    body = json.loads(_raw(mockllm_server, {"model": "gpt-5", "messages": ASK}))
    assert body["choices"][0]["message"]["reasoning"] == "Paris is in France."


# ------------------------------------------------------------------ two models differ


def test_the_same_request_to_two_models_differs_as_the_real_ones_do(
    live_server: MockLLMServer,
) -> None:
    ask = {"messages": ASK, "seed": 11}
    mini = json.loads(_raw(live_server, {**ask, "model": "gpt-4o-mini"}))
    five = json.loads(_raw(live_server, {**ask, "model": "gpt-5"}))
    assert (mini["model"], five["model"]) == ("gpt-4o-mini-2024-07-18", "gpt-5-2025-08-07")
    assert mini["system_fingerprint"].startswith("fp_") and five["system_fingerprint"] is None
    assert mini["usage"]["completion_tokens_details"]["reasoning_tokens"] == 0
    assert five["usage"]["completion_tokens_details"]["reasoning_tokens"] > 0
    assert "logprobs" in mini["choices"][0] and "logprobs" not in five["choices"][0]


@pytest.mark.parametrize("stream", [False, True])
def test_audio_models_split_usage_into_text_image_and_audio(
    client: openai.OpenAI, stream: bool
) -> None:
    if stream:
        chunks = list(
            client.chat.completions.create(
                model="gpt-4o-audio-preview",
                messages=ASK,
                stream=True,
                stream_options={"include_usage": True},
            )
        )
        usage = chunks[-1].usage
    else:
        usage = client.chat.completions.create(model="gpt-4o-audio-preview", messages=ASK).usage
    assert usage is not None
    prompt, completion = usage.prompt_tokens_details, usage.completion_tokens_details
    assert prompt is not None and completion is not None
    assert prompt.model_dump()["text_tokens"] == usage.prompt_tokens
    assert prompt.model_dump()["image_tokens"] == 0
    assert completion.text_tokens == usage.completion_tokens
    plain = client.chat.completions.create(model="gpt-4o", messages=ASK)
    assert plain.usage is not None and plain.usage.prompt_tokens_details is not None
    assert "text_tokens" not in plain.usage.prompt_tokens_details.model_dump(exclude_unset=True)


# ------------------------------------------------------------------ GET /v1/models


def test_the_models_endpoint_lists_the_catalog(client: openai.OpenAI) -> None:
    listed = {model.id: model for model in client.models.list()}
    for name in (
        "gpt-4o-mini",
        "gpt-4o-mini-2024-07-18",
        "gpt-5",
        "o3-mini",
        "claude-sonnet-4-5",
        "claude-sonnet-4-5-20250929",
        "claude-haiku-4-5-20251001",
        "claude-opus-4-1-20250805",
    ):
        assert name in listed, name
    assert listed["gpt-5"].owned_by == "system" and listed["gpt-5"].created > 1.7e9
    assert client.models.retrieve("gpt-5-mini").id == "gpt-5-mini"


def test_the_models_endpoint_answers_anthropic_clients_in_their_shape(
    live_server: MockLLMServer,
) -> None:
    request = urllib.request.Request(
        live_server.base_url + "/models", headers={"anthropic-version": "2023-06-01"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        body = json.load(response)
    ids = [model["id"] for model in body["data"]]
    assert "claude-sonnet-4-5-20250929" in ids and not any(i.startswith("gpt") for i in ids)
    sonnet = next(m for m in body["data"] if m["id"] == "claude-sonnet-4-5-20250929")
    assert sonnet == {
        "type": "model",
        "id": "claude-sonnet-4-5-20250929",
        "display_name": "Claude Sonnet 4.5",
        "created_at": "2025-09-29T00:00:00Z",
        "max_input_tokens": 200000,
        "max_tokens": 64000,
    }
    assert body["has_more"] is False and body["first_id"] == ids[0]


# ------------------------------------------------------------------ --strict-models


@pytest.mark.parametrize("stream", [False, True])
def test_strict_models_refuse_an_unknown_model(strict_server: MockLLMServer, stream: bool) -> None:
    with pytest.raises(openai.NotFoundError) as info:
        _client(strict_server).chat.completions.create(model="gpt-x", messages=ASK, stream=stream)
    error = info.value.body
    assert isinstance(error, dict) and error["code"] == "model_not_found"
    assert error["message"] == "The model `gpt-x` does not exist or you do not have access to it."
    with pytest.raises(openai.NotFoundError):
        _client(strict_server).models.retrieve("gpt-x")


@pytest.mark.parametrize(
    ("model", "extra", "param", "code", "message"),
    [
        (
            "gpt-5-mini",
            {"stop": ["\n"]},
            "stop",
            "unsupported_parameter",
            "Unsupported parameter: 'stop' is not supported with this model.",
        ),
        (
            "o1-mini",
            {"stop": "x"},
            "stop",
            "unsupported_parameter",
            "Unsupported parameter: 'stop' is not supported with this model.",
        ),
        (
            "gpt-5",
            {"max_tokens": 10},
            "max_tokens",
            "unsupported_parameter",
            "Unsupported parameter: 'max_tokens' is not supported with this model. "
            "Use 'max_completion_tokens' instead.",
        ),
        (
            "o3-mini",
            {"temperature": 0.2},
            "temperature",
            "unsupported_value",
            "Unsupported value: 'temperature' does not support 0.2 with this model. Only the "
            "default (1) value is supported.",
        ),
        (
            "o1-mini",
            {"messages": [{"role": "developer", "content": "be brief"}, *ASK]},
            "messages[0].role",
            "unsupported_value",
            "Unsupported value: 'messages[0].role' does not support 'developer' with this model.",
        ),
    ],
)
@pytest.mark.parametrize("stream", [False, True])
def test_strict_models_refuse_what_the_model_refuses(
    strict_server: MockLLMServer,
    model: str,
    extra: dict[str, Any],
    param: str,
    code: str,
    message: str,
    stream: bool,
) -> None:
    ask: dict[str, Any] = {"model": model, "messages": ASK, **extra}
    with pytest.raises(openai.BadRequestError) as info:
        _client(strict_server).chat.completions.create(**ask, stream=stream)
    error = info.value.body
    assert isinstance(error, dict)
    assert (error["param"], error["code"], error["message"]) == (param, code, message)
    assert error["type"] == "invalid_request_error"


def test_strict_models_refuse_a_prompt_over_the_context_window(
    strict_server: MockLLMServer,
) -> None:
    client = _client(strict_server)
    assert client.chat.completions.create(model="tiny-model", messages=ASK).choices
    long = [{"role": "user", "content": "word " * 80}]
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model="tiny-model", messages=long)
    error = info.value.body
    assert isinstance(error, dict) and error["code"] == "context_length_exceeded"
    assert error["message"].startswith("This model's maximum context length is 50 tokens.")


def test_without_strict_models_everything_is_accepted(client: openai.OpenAI) -> None:
    reply = client.chat.completions.create(model="gpt-5-mini", messages=ASK, stop=["\n"])
    assert reply.choices[0].finish_reason in {"stop", "length"}
    assert client.models.retrieve("gpt-x").id == "gpt-x"


# ------------------------------------------------------------------ the catalog's files


def test_a_scenario_file_may_add_models(tmp_path: Path, mockllm_parts: AppParts) -> None:
    (tmp_path / "s.yaml").write_text(
        "models:\n  house-model: {family: gpt-5, snapshot: house-model-2026-01-01}\n"
        "scenarios:\n  - name: any\n    reply: {content: hi}\n"
    )
    with MockLLMServer(Settings(port=0, scenario_paths=(tmp_path,)), parts=mockllm_parts) as server:
        body = json.loads(_raw(server, {"model": "house-model", "messages": ASK}))
    assert body["model"] == "house-model-2026-01-01"
    assert body["system_fingerprint"] is None and "logprobs" not in body["choices"][0]
    assert body["choices"][0]["message"]["content"] == "hi"


def test_an_override_changes_one_key_of_a_shipped_model(tmp_path: Path) -> None:
    file = tmp_path / "m.yaml"
    file.write_text("strict: true\nmodels:\n  gpt-4o: {context_window: 1000}\n")
    catalog = load_catalog(models_file=file)
    card = catalog.get("gpt-4o")
    assert card is not None and card.context_window == 1000
    assert card.snapshot == "gpt-4o-2024-08-06" and catalog.strict
    assert load_catalog().get("gpt-4o").context_window == 128000  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("text", "line", "key", "needle"),
    [
        (
            "models:\n  m1:\n    context_window: lots\n",
            3,
            "models.m1.context_window",
            "'lots' is not of type 'integer'",
        ),
        ("models:\n  m1:\n    colour: red\n", 2, "models.m1", "unknown key 'colour'"),
        ("models:\n  m1: {family: nope}\n", 2, "models.m1.family", "unknown family 'nope'"),
        ("models:\n  m1:\n    tokenizer: p50k\n", 3, "models.m1.tokenizer", "p50k"),
        ("modells: {}\n", 1, "", "unknown key 'modells'"),
    ],
)
def test_a_bad_catalog_is_refused_at_load_naming_file_line_and_key(
    tmp_path: Path, text: str, line: int, key: str, needle: str
) -> None:
    file = tmp_path / "bad.yaml"
    file.write_text(text)
    with pytest.raises(ScenarioLoadError) as info:
        load_catalog(models_file=file)
    error = info.value
    assert (error.path, error.line, error.key) == (str(file), line, key)
    assert needle in str(error)
