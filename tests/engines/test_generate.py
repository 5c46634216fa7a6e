"""generate(): replies that follow the request and the reply spec, checked against real types.

Every body built here is checked three ways: the openai SDK's pydantic ChatCompletion,
mockllm's generated ChatResponse schema, and usage counts recomputed from the text.
"""

from __future__ import annotations

import base64
import io
import json
import math
import timeit
import wave
from collections.abc import Mapping
from typing import Any

import jsonschema
import pytest
from faker import Faker
from openai.types.chat import ChatCompletion

from mockllm.errors import BadRequestError, ScriptedError
from mockllm.reply_engine import audio as audio_files
from mockllm.reply_engine.generate import Generator
from mockllm.schemaset import SchemaSet
from mockllm.validation import ResponseValidator

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string", "minLength": 1},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                "days": {"type": "integer", "minimum": 1, "maximum": 14},
            },
            "required": ["city", "unit"],
            "additionalProperties": False,
        },
    },
}
SEARCH = {
    "type": "function",
    "function": {
        "name": "search",
        "parameters": {
            "type": "object",
            "properties": {"query": {"type": "string"}, "limit": {"type": "integer", "minimum": 1}},
            "required": ["query"],
        },
    },
}
CLOCK = {"type": "function", "function": {"name": "get_time"}}
TOOLS = [WEATHER, SEARCH, CLOCK]
SCHEMA = {
    "type": "object",
    "properties": {
        "title": {"type": "string"},
        "rating": {"type": "number", "minimum": 0, "maximum": 5},
        "tags": {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 3},
    },
    "required": ["title", "rating", "tags"],
    "additionalProperties": False,
}


# The model of every request here; usage is counted in its encoding (o200k_base).
MODEL = "gpt-4o-mini"


@pytest.fixture(scope="module")
def gen() -> Generator:
    return Generator(Faker())


@pytest.fixture(scope="module")
def response_validator() -> ResponseValidator:
    return ResponseValidator(SchemaSet.load())


def ask(**fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"model": MODEL, "messages": [{"role": "user", "content": "What's up?"}]}
    body.update(fields)
    return body


def build(
    gen: Generator,
    validator: ResponseValidator,
    request: Mapping[str, Any],
    reply: Mapping[str, Any] | None = None,
    seed: int = 1,
) -> dict[str, Any]:
    """generate() and check the body against the SDK type, the schema and usage rules."""
    body = gen.generate(request, reply, seed=seed, created=1_750_000_000)
    ChatCompletion.model_validate(body)
    assert validator.validate(body) == []
    assert [c["index"] for c in body["choices"]] == list(range(request.get("n") or 1))
    usage = body["usage"]
    if not (reply or {}).get("usage"):
        assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
        details = usage["completion_tokens_details"]
        assert usage["completion_tokens"] >= details["reasoning_tokens"] + details["audio_tokens"]
        assert usage["prompt_tokens"] > 0
    return body


def message(body: Mapping[str, Any], index: int = 0) -> dict[str, Any]:
    return body["choices"][index]["message"]


def text_tokens(gen: Generator, body: Mapping[str, Any]) -> int:
    """Completion tokens recomputed from the text of every choice."""
    total = 0
    for choice in body["choices"]:
        msg = choice["message"]
        for key in ("content", "reasoning", "refusal"):
            if msg.get(key):
                total += gen.tokenizer_for(MODEL).count(msg[key])
    return total


# ------------------------------------------------------------------------- default reply


def test_default_reply_is_plausible_text(
    gen: Generator, response_validator: ResponseValidator
) -> None:
    body = build(gen, response_validator, ask())
    msg = message(body)
    assert body["id"].startswith("chatcmpl-") and len(body["id"]) > 20
    assert body["object"] == "chat.completion"
    assert body["created"] == 1_750_000_000
    assert body["model"] == "gpt-4o-mini"
    assert body["system_fingerprint"].startswith("fp_")
    assert body["service_tier"] == "default"
    assert msg == {
        "role": "assistant",
        "content": msg["content"],
        "refusal": None,
        "annotations": [],
    }
    assert msg["content"][0].isupper() and msg["content"].endswith(".")
    assert 10 <= len(msg["content"].split()) <= 120
    assert body["choices"][0]["finish_reason"] == "stop"
    assert body["choices"][0]["logprobs"] is None
    assert body["usage"]["completion_tokens"] == text_tokens(gen, body)


@pytest.mark.parametrize(
    "request_body, reply",
    [
        (ask(), None),
        (ask(n=2, logprobs=True, top_logprobs=2), None),
        (ask(tools=TOOLS, tool_choice="required"), None),
        (
            ask(
                response_format={
                    "type": "json_schema",
                    "json_schema": {"name": "r", "schema": SCHEMA},
                }
            ),
            None,
        ),
        (ask(modalities=["text", "audio"], audio={"format": "wav", "voice": "alloy"}), None),
        (ask(reasoning_effort="high"), {"annotations": 2}),
    ],
)
def test_same_seed_same_body_other_seed_other_body(
    gen: Generator,
    response_validator: ResponseValidator,
    request_body: dict[str, Any],
    reply: dict[str, Any] | None,
) -> None:
    first = build(gen, response_validator, request_body, reply, seed=42)
    again = build(gen, response_validator, request_body, reply, seed=42)
    other = build(gen, response_validator, request_body, reply, seed=43)
    assert first == again
    assert first["id"] != other["id"]
    assert first["choices"] != other["choices"]


def test_n_choices_differ(gen: Generator, response_validator: ResponseValidator) -> None:
    body = build(gen, response_validator, ask(n=4))
    contents = [c["message"]["content"] for c in body["choices"]]
    assert len(set(contents)) == 4
    assert body["usage"]["completion_tokens"] == text_tokens(gen, body)


def test_system_fingerprint_follows_the_model(
    gen: Generator, response_validator: ResponseValidator
) -> None:
    a = build(gen, response_validator, ask(model="gpt-4o"), seed=1)
    b = build(gen, response_validator, ask(model="gpt-4o"), seed=2)
    c = build(gen, response_validator, ask(model="gpt-5"), seed=1)
    assert a["system_fingerprint"] == b["system_fingerprint"] != c["system_fingerprint"]


# ------------------------------------------------------------------------- stop and length


@pytest.mark.parametrize("scripted", [None, "Alpha beta gamma. Delta epsilon zeta eta."])
@pytest.mark.parametrize("as_list", [False, True])
def test_stop_cuts_before_the_first_stop_sequence(
    gen: Generator, response_validator: ResponseValidator, scripted: str | None, as_list: bool
) -> None:
    reply = {"content": scripted} if scripted else None
    full = message(build(gen, response_validator, ask(), reply, seed=9))["content"]
    words = full.split()
    stop_word = " " + words[len(words) // 2]
    cut = full.find(stop_word)
    stop: Any = [" zzz-never", stop_word] if as_list else stop_word
    body = build(gen, response_validator, ask(stop=stop), reply, seed=9)
    assert message(body)["content"] == full[:cut]
    assert body["choices"][0]["finish_reason"] == "stop"
    assert body["usage"]["completion_tokens"] == text_tokens(gen, body)


def test_stop_that_never_occurs_changes_nothing(
    gen: Generator, response_validator: ResponseValidator
) -> None:
    full = build(gen, response_validator, ask(), seed=5)
    stopped = build(gen, response_validator, ask(stop=["<never>"]), seed=5)
    assert message(full) == message(stopped)


@pytest.mark.parametrize("field", ["max_completion_tokens", "max_tokens"])
@pytest.mark.parametrize("limit", [1, 5])
@pytest.mark.parametrize("scripted", [None, "One two three four five six seven eight nine ten."])
def test_max_tokens_truncates_with_finish_reason_length(
    gen: Generator,
    response_validator: ResponseValidator,
    field: str,
    limit: int,
    scripted: str | None,
) -> None:
    reply = {"content": scripted} if scripted else None
    full = message(build(gen, response_validator, ask(), reply, seed=3))["content"]
    body = build(gen, response_validator, ask(**{field: limit}), reply, seed=3)
    content = message(body)["content"]
    assert full.startswith(content) and content != full
    assert gen.tokenizer_for(MODEL).count(content) == limit
    assert body["choices"][0]["finish_reason"] == "length"
    assert body["usage"]["completion_tokens"] == limit


def test_a_budget_the_reply_fits_in_is_no_truncation(
    gen: Generator, response_validator: ResponseValidator
) -> None:
    body = build(gen, response_validator, ask(max_completion_tokens=500), {"content": "Short."})
    assert message(body)["content"] == "Short."
    assert body["choices"][0]["finish_reason"] == "stop"


def test_reasoning_spends_the_budget_first(
    gen: Generator, response_validator: ResponseValidator
) -> None:
    body = build(gen, response_validator, ask(reasoning_effort="high", max_completion_tokens=8))
    msg = message(body)
    assert gen.tokenizer_for(MODEL).count(msg["reasoning"]) == 8
    assert msg["content"] == ""
    assert body["choices"][0]["finish_reason"] == "length"
    assert body["usage"]["completion_tokens_details"]["reasoning_tokens"] == 8


# ------------------------------------------------------------------------- tools


def _offered(name: str) -> Mapping[str, Any]:
    return next(t["function"] for t in TOOLS if t["function"]["name"] == name)


def _check_calls(calls: list[dict[str, Any]]) -> None:
    ids = [c["id"] for c in calls]
    assert len(set(ids)) == len(ids) and all(i.startswith("call_") for i in ids)
    for call in calls:
        assert call["type"] == "function"
        schema = _offered(call["function"]["name"]).get("parameters") or {"type": "object"}
        arguments = json.loads(call["function"]["arguments"])
        jsonschema.validate(arguments, schema)


@pytest.mark.parametrize(
    "tool_choice, expected, finish",
    [
        ("required", "get_weather", "tool_calls"),
        # A function forced by name finishes with "stop" on OpenAI (vllm-project/vllm#25054).
        ({"type": "function", "function": {"name": "search"}}, "search", "stop"),
        ({"type": "function", "function": {"name": "get_time"}}, "get_time", "stop"),
    ],
)
def test_tool_choice_is_honoured(
    gen: Generator,
    response_validator: ResponseValidator,
    tool_choice: Any,
    expected: str,
    finish: str,
) -> None:
    for seed in range(8):
        request = ask(tools=TOOLS, tool_choice=tool_choice, parallel_tool_calls=False)
        body = build(gen, response_validator, request, seed=seed)
        msg = message(body)
        assert msg["content"] is None
        assert [c["function"]["name"] for c in msg["tool_calls"]] == [expected]
        assert body["choices"][0]["finish_reason"] == finish
        _check_calls(msg["tool_calls"])


@pytest.mark.parametrize(
    "tool_choice, spec, finish",
    [
        ("auto", {"tool_calls": "auto"}, "tool_calls"),
        ({"type": "function", "function": {"name": "search"}}, {"tool_calls": "auto"}, "stop"),
        (
            {"type": "function", "function": {"name": "search"}},
            {"tool_calls": [{"name": "search"}]},
            "stop",
        ),
        (
            {"type": "function", "function": {"name": "search"}},
            {"tool_calls": "auto", "finish_reason": "tool_calls"},
            "tool_calls",
        ),
    ],
)
def test_scripted_calls_follow_the_tool_choice_finish_reason(
    gen: Generator,
    response_validator: ResponseValidator,
    tool_choice: Any,
    spec: dict[str, Any],
    finish: str,
) -> None:
    body = build(gen, response_validator, ask(tools=TOOLS, tool_choice=tool_choice), spec)
    assert message(body)["tool_calls"]
    assert body["choices"][0]["finish_reason"] == finish


def test_required_with_parallel_calls_may_call_several_tools(
    gen: Generator, response_validator: ResponseValidator
) -> None:
    counts = set()
    for seed in range(30):
        msg = message(
            build(gen, response_validator, ask(tools=TOOLS, tool_choice="required"), seed=seed)
        )
        names = [c["function"]["name"] for c in msg["tool_calls"]]
        assert names[0] == "get_weather" and len(set(names)) == len(names)
        _check_calls(msg["tool_calls"])
        counts.add(len(names))
    assert 1 in counts and max(counts) > 1


def test_auto_or_none_tool_choice_answers_with_text(
    gen: Generator, response_validator: ResponseValidator
) -> None:
    for choice in ("auto", "none"):
        msg = message(build(gen, response_validator, ask(tools=TOOLS, tool_choice=choice)))
        assert msg["content"] and "tool_calls" not in msg


@pytest.mark.parametrize(
    "spec, expected",
    [
        (
            [{"name": "search", "arguments": {"query": "mock servers"}}],
            [("search", {"query": "mock servers"})],
        ),
        (
            [{"name": "search", "arguments": '{"query":"raw"}', "id": "call_fixed"}],
            [("search", {"query": "raw"})],
        ),
        (
            [{"name": "get_weather"}, {"name": "search", "arguments": {"query": "q"}}],
            [("get_weather", None), ("search", {"query": "q"})],
        ),
        ("auto", [("get_weather", None)]),
    ],
)
def test_scripted_tool_calls(
    gen: Generator,
    response_validator: ResponseValidator,
    spec: Any,
    expected: list[tuple[str, Any]],
) -> None:
    body = build(gen, response_validator, ask(tools=TOOLS), {"tool_calls": spec})
    calls = message(body)["tool_calls"]
    assert [c["function"]["name"] for c in calls] == [name for name, _ in expected]
    for call, (_, arguments) in zip(calls, expected, strict=True):
        if arguments is not None:
            assert json.loads(call["function"]["arguments"]) == arguments
    if isinstance(spec, list) and "id" in spec[0]:
        assert calls[0]["id"] == spec[0]["id"]
    _check_calls(calls)
    assert body["choices"][0]["finish_reason"] == "tool_calls"
    assert message(body)["content"] is None


def test_scripted_content_with_tool_calls_keeps_both(
    gen: Generator, response_validator: ResponseValidator
) -> None:
    body = build(
        gen,
        response_validator,
        ask(tools=TOOLS),
        {"content": "Let me check.", "tool_calls": [{"name": "get_time"}]},
    )
    assert message(body)["content"] == "Let me check."
    assert body["choices"][0]["finish_reason"] == "tool_calls"


@pytest.mark.parametrize(
    "request_body, spec",
    [
        (ask(tools=TOOLS), [{"name": "launch_rockets"}]),
        (ask(), [{"name": "get_weather"}]),
        (ask(), "auto"),
    ],
)
def test_a_tool_the_request_did_not_offer_is_a_bad_request(
    gen: Generator, request_body: dict[str, Any], spec: Any
) -> None:
    with pytest.raises(BadRequestError) as caught:
        gen.generate(request_body, {"tool_calls": spec}, seed=1, created=1)
    if isinstance(spec, list):
        assert spec[0]["name"] in caught.value.message


def test_a_reply_calls_a_custom_tool_in_the_custom_shape(gen: Generator) -> None:
    # Custom tools were once refused with a misleading 400 (issue 22).
    grep = {"type": "custom", "custom": {"name": "grep", "description": "search files"}}
    body = gen.generate(
        ask(tools=[grep, WEATHER]),
        {"tool_calls": [{"name": "grep", "arguments": "TODO"}]},
        seed=1,
        created=1,
    )
    [call] = body["choices"][0]["message"]["tool_calls"]
    assert call["type"] == "custom" and call["custom"] == {"name": "grep", "input": "TODO"}
    assert body["choices"][0]["finish_reason"] == "tool_calls"


def test_tool_choice_none_wins_over_an_automatic_tool_call(
    gen: Generator, response_validator: ResponseValidator
) -> None:
    body = build(
        gen, response_validator, ask(tools=TOOLS, tool_choice="none"), {"tool_calls": "auto"}
    )
    assert body["choices"][0]["finish_reason"] == "stop"
    assert "tool_calls" not in message(body) or not message(body)["tool_calls"]


# ------------------------------------------------------------------------- structured output


def test_json_object_content_parses_as_an_object(
    gen: Generator, response_validator: ResponseValidator
) -> None:
    for seed in range(5):
        body = build(
            gen, response_validator, ask(response_format={"type": "json_object"}), seed=seed
        )
        assert isinstance(json.loads(message(body)["content"]), dict)


def test_json_schema_content_validates(
    gen: Generator, response_validator: ResponseValidator
) -> None:
    fmt = {
        "type": "json_schema",
        "json_schema": {"name": "review", "strict": True, "schema": SCHEMA},
    }
    for seed in range(10):
        body = build(gen, response_validator, ask(response_format=fmt), seed=seed)
        jsonschema.validate(json.loads(message(body)["content"]), SCHEMA)
        assert body["usage"]["completion_tokens"] == text_tokens(gen, body)


def test_scripted_object_content_is_sent_as_json(
    gen: Generator, response_validator: ResponseValidator
) -> None:
    body = build(gen, response_validator, ask(), {"content": {"answer": 42}})
    assert json.loads(message(body)["content"]) == {"answer": 42}


# ------------------------------------------------------------------------- audio


def test_audio_modality_gives_a_real_file(
    gen: Generator, response_validator: ResponseValidator
) -> None:
    body = build(
        gen,
        response_validator,
        ask(modalities=["text", "audio"], audio={"voice": "alloy", "format": "wav"}),
    )
    msg = message(body)
    assert msg["content"] is None
    audio = msg["audio"]
    assert audio["id"].startswith("audio_")
    assert audio["expires_at"] > body["created"]
    assert len(audio["transcript"].split()) >= 3
    with wave.open(io.BytesIO(base64.b64decode(audio["data"]))) as wav:
        seconds = wav.getnframes() / wav.getframerate()
    assert seconds == pytest.approx(audio_files.duration_for_text(audio["transcript"]), abs=0.1)
    details = body["usage"]["completion_tokens_details"]
    assert details["audio_tokens"] > 0
    assert body["usage"]["completion_tokens"] == details["audio_tokens"] + gen.tokenizer_for(
        MODEL
    ).count(audio["transcript"])


@pytest.mark.parametrize(
    "fmt, magic", [("mp3", None), ("flac", b"fLaC"), ("opus", b"OggS"), ("pcm16", None)]
)
def test_audio_follows_the_requested_format(
    gen: Generator, response_validator: ResponseValidator, fmt: str, magic: bytes | None
) -> None:
    reply = {"audio": {"transcript": "Hello there, general Kenobi."}}
    body = build(
        gen,
        response_validator,
        ask(modalities=["text", "audio"], audio={"voice": "echo", "format": fmt}),
        reply,
    )
    data = base64.b64decode(message(body)["audio"]["data"])
    assert message(body)["audio"]["transcript"] == reply["audio"]["transcript"]
    assert data and (magic is None or data.startswith(magic))
    assert not data.startswith(b"RIFF")


# ------------------------------------------------------------------------- logprobs


@pytest.mark.parametrize("top", [0, 1, 3])
def test_logprobs_cover_the_content_token_by_token(
    gen: Generator, response_validator: ResponseValidator, top: int
) -> None:
    body = build(gen, response_validator, ask(logprobs=True, top_logprobs=top))
    content = message(body)["content"]
    entries = body["choices"][0]["logprobs"]["content"]
    assert body["choices"][0]["logprobs"]["refusal"] is None
    assert "".join(e["token"] for e in entries) == content
    assert len(entries) == body["usage"]["completion_tokens"]
    for entry in entries:
        assert entry["bytes"] == list(entry["token"].encode())
        assert entry["logprob"] <= 0
        ranked = entry["top_logprobs"]
        assert len(ranked) == top
        assert [r["logprob"] for r in ranked] == sorted(
            (r["logprob"] for r in ranked), reverse=True
        )
        if ranked:
            assert ranked[0]["token"] == entry["token"]
            assert ranked[0]["logprob"] == entry["logprob"]
            assert len({r["token"] for r in ranked}) == top


@pytest.mark.parametrize("seed", range(0, 40, 3))
def test_top_logprobs_are_a_distribution(gen: Generator, seed: int) -> None:
    # Before: with seed 2 and top_logprobs 20 the probabilities summed to as much as 2.8.
    for top in range(21):
        body = gen.generate(ask(logprobs=True, top_logprobs=top, n=2), None, seed=seed, created=0)
        for choice in body["choices"]:
            for entry in choice["logprobs"]["content"]:
                ranked = entry["top_logprobs"]
                assert len(ranked) == top
                probs = [math.exp(r["logprob"]) for r in ranked]
                assert all(math.isfinite(r["logprob"]) and r["logprob"] < 0 for r in ranked)
                assert probs == sorted(probs, reverse=True)
                # The listed alternatives leave something for the rest of the vocabulary.
                assert math.fsum(probs) < 1.0
                assert math.exp(entry["logprob"]) + math.fsum(probs[1:]) < 1.0
                assert len({r["token"] for r in ranked}) == top
                if ranked:  # the sampled token is among them, with its own logprob
                    assert ranked[0] == {
                        "token": entry["token"],
                        "logprob": entry["logprob"],
                        "bytes": entry["bytes"],
                    }


def test_reply_spec_turns_logprobs_on(
    gen: Generator, response_validator: ResponseValidator
) -> None:
    body = build(gen, response_validator, ask(), {"logprobs": {"top": 2}})
    entries = body["choices"][0]["logprobs"]["content"]
    assert all(len(e["top_logprobs"]) == 2 for e in entries)


def test_scripted_logprob_tokens_make_the_content(
    gen: Generator, response_validator: ResponseValidator
) -> None:
    tokens = [
        {
            "token": "Yes",
            "logprob": -0.01,
            "top_logprobs": [{"token": "No", "logprob": -4.6}, {"token": "Yes", "logprob": -0.01}],
        },
        {"token": ".", "logprob": -0.2},
    ]
    body = build(gen, response_validator, ask(), {"logprobs": {"tokens": tokens}})
    assert message(body)["content"] == "Yes."
    entries = body["choices"][0]["logprobs"]["content"]
    assert [e["token"] for e in entries] == ["Yes", "."]
    assert [t["token"] for t in entries[0]["top_logprobs"]] == ["Yes", "No"]
    assert entries[0]["bytes"] == [89, 101, 115]


def test_logprobs_of_a_refusal(gen: Generator, response_validator: ResponseValidator) -> None:
    body = build(gen, response_validator, ask(logprobs=True), {"refusal": "I can't help."})
    logprobs = body["choices"][0]["logprobs"]
    assert logprobs["content"] is None
    assert "".join(e["token"] for e in logprobs["refusal"]) == "I can't help."


# ------------------------------------------------------------------------- reasoning


def _reasoning_tokens(
    gen: Generator, response_validator: ResponseValidator, seed: int, **fields: Any
) -> int:
    body = build(gen, response_validator, ask(**fields), seed=seed)
    msg = message(body)
    tokens = body["usage"]["completion_tokens_details"]["reasoning_tokens"]
    assert tokens == (gen.tokenizer_for(MODEL).count(msg["reasoning"]) if "reasoning" in msg else 0)
    assert body["usage"]["completion_tokens"] == text_tokens(gen, body)
    return tokens


def test_reasoning_length_follows_the_effort(
    gen: Generator, response_validator: ResponseValidator
) -> None:
    for seed in range(6):
        low, medium, high = (
            _reasoning_tokens(gen, response_validator, seed, reasoning_effort=effort)
            for effort in ("low", "medium", "high")
        )
        assert 0 < low < medium < high


@pytest.mark.parametrize(
    "fields, present",
    [
        ({"enable_thinking": True}, True),
        ({"enable_thinking": False}, False),
        ({"reasoning_effort": "minimal"}, False),
        ({"reasoning_effort": "none"}, False),
        ({}, False),
    ],
)
def test_reasoning_appears_when_asked(
    gen: Generator, response_validator: ResponseValidator, fields: dict[str, Any], present: bool
) -> None:
    assert (_reasoning_tokens(gen, response_validator, 1, **fields) > 0) is present


@pytest.mark.parametrize("spec", [True, "First, consider the question."])
def test_scripted_reasoning(
    gen: Generator, response_validator: ResponseValidator, spec: Any
) -> None:
    body = build(gen, response_validator, ask(), {"reasoning": spec})
    reasoning = message(body)["reasoning"]
    assert reasoning == spec if isinstance(spec, str) else len(reasoning) > 20
    assert body["usage"]["completion_tokens_details"]["reasoning_tokens"] == gen.tokenizer_for(
        MODEL
    ).count(reasoning)


# ------------------------------------------------------------------------- other reply keys


def test_refusal(gen: Generator, response_validator: ResponseValidator) -> None:
    body = build(
        gen,
        response_validator,
        ask(tools=TOOLS, tool_choice="required"),
        {"refusal": "I can't help with that."},
    )
    msg = message(body)
    assert msg["content"] is None and msg["refusal"] == "I can't help with that."
    assert "tool_calls" not in msg
    assert body["choices"][0]["finish_reason"] == "stop"
    assert body["usage"]["completion_tokens"] == text_tokens(gen, body)


def test_annotations_point_at_their_text(
    gen: Generator, response_validator: ResponseValidator
) -> None:
    content = "Paris is the capital of France. It has 2.1 million people."
    reply = {
        "content": content,
        "annotations": [
            {"url": "https://example.org/paris", "title": "Paris", "text": "capital of France"},
            {"url": "https://example.org/pop", "start_index": 32, "end_index": 59},
        ],
    }
    anns = message(build(gen, response_validator, ask(), reply))["annotations"]
    assert [a["type"] for a in anns] == ["url_citation", "url_citation"]
    first, second = (a["url_citation"] for a in anns)
    assert content[first["start_index"] : first["end_index"]] == "capital of France"
    assert (first["url"], first["title"]) == ("https://example.org/paris", "Paris")
    assert content[second["start_index"] : second["end_index"]] == content[32:59]
    assert second["title"]


@pytest.mark.parametrize("count", [1, 2, 3])
def test_generated_annotations_cite_real_spans(
    gen: Generator, response_validator: ResponseValidator, count: int
) -> None:
    body = build(
        gen,
        response_validator,
        ask(),
        {"content": "One. Two two. Three three three. Four four four four.", "annotations": count},
    )
    msg = message(body)
    anns = [a["url_citation"] for a in msg["annotations"]]
    assert len(anns) == count
    for ann in anns:
        span = msg["content"][ann["start_index"] : ann["end_index"]]
        assert span and span == span.strip() and span.endswith(".")
        assert ann["url"].startswith("http") and ann["title"]
    starts = [a["start_index"] for a in anns]
    assert starts == sorted(set(starts))


def test_citing_text_that_is_not_in_the_content_is_an_error(gen: Generator) -> None:
    with pytest.raises(ScriptedError):
        gen.generate(
            ask(),
            {"content": "abc", "annotations": [{"url": "u", "text": "zzz"}]},
            seed=1,
            created=1,
        )


@pytest.mark.parametrize(
    "reply, check",
    [
        (
            {"finish_reason": "content_filter"},
            lambda b: b["choices"][0]["finish_reason"] == "content_filter",
        ),
        (
            {
                "model": "gpt-x",
                "system_fingerprint": "fp_pinned",
                "service_tier": "priority",
                "provider": "openrouter",
            },
            lambda b: (
                (b["model"], b["system_fingerprint"], b["service_tier"], b["provider"])
                == ("gpt-x", "fp_pinned", "priority", "openrouter")
            ),
        ),
        ({"content": None}, lambda b: b["choices"][0]["message"]["content"] is None),
    ],
)
def test_response_level_overrides(
    gen: Generator, response_validator: ResponseValidator, reply: dict[str, Any], check: Any
) -> None:
    assert check(build(gen, response_validator, ask(), reply))


def test_usage_overrides_recompute_the_total(
    gen: Generator, response_validator: ResponseValidator
) -> None:
    body = build(
        gen,
        response_validator,
        ask(),
        {"usage": {"prompt_tokens": 10, "prompt_tokens_details": {"cached_tokens": 4}}},
    )
    usage = body["usage"]
    assert usage["prompt_tokens"] == 10
    assert usage["total_tokens"] == 10 + usage["completion_tokens"]
    assert usage["prompt_tokens_details"] == {"cached_tokens": 4, "audio_tokens": 0}
    pinned = build(gen, response_validator, ask(), {"usage": {"total_tokens": 7}})
    assert pinned["usage"]["total_tokens"] == 7


def test_requested_service_tier_is_echoed(
    gen: Generator, response_validator: ResponseValidator
) -> None:
    assert build(gen, response_validator, ask(service_tier="flex"))["service_tier"] == "flex"
    assert build(gen, response_validator, ask(service_tier="auto"))["service_tier"] == "default"


def test_per_choice_replies(gen: Generator, response_validator: ResponseValidator) -> None:
    body = build(
        gen,
        response_validator,
        ask(n=3),
        {"finish_reason": "stop", "choices": [{"content": "First."}, {"refusal": "No."}]},
    )
    assert [message(body, i)["content"] for i in range(3)] == ["First.", None, "First."]
    assert message(body, 1)["refusal"] == "No."
    assert body["usage"]["completion_tokens"] == text_tokens(gen, body)


def test_prompt_tokens_count_the_tools(
    gen: Generator, response_validator: ResponseValidator
) -> None:
    bare = build(gen, response_validator, ask())["usage"]["prompt_tokens"]
    with_tools = build(gen, response_validator, ask(tools=TOOLS))["usage"]["prompt_tokens"]
    assert with_tools > bare + 20


# ------------------------------------------------------------------------- errors


def test_scripted_error_carries_everything(gen: Generator) -> None:
    reply = {
        "error": {
            "status": 429,
            "message": "Rate limit reached",
            "code": "rate_limit_exceeded",
            "type": "requests",
            "param": None,
            "headers": {"Retry-After": "1"},
            "field_errors": [
                {"fieldName": "MaxCompletionTokens", "errorCode": "LessThan", "message": "too many"}
            ],
        }
    }
    with pytest.raises(ScriptedError) as caught:
        gen.generate(ask(), reply, seed=1, created=1)
    error = caught.value
    assert (error.status, error.message, error.openai_code, error.openai_type) == (
        429,
        "Rate limit reached",
        "rate_limit_exceeded",
        "requests",
    )
    assert error.error_code == "TooManyRequests"
    assert error.param is None
    assert error.headers == {"Retry-After": "1"}
    assert [(f.field_name, f.param, f.error_code) for f in error.field_errors] == [
        ("MaxCompletionTokens", "max_completion_tokens", "LessThan")
    ]


@pytest.mark.parametrize(
    "status, error_code, openai_type",
    [
        (500, "InternalServerError", "server_error"),
        (503, "ServiceUnavailable", "server_error"),
        (400, "BadRequest", "invalid_request_error"),
    ],
)
def test_scripted_error_defaults_follow_the_status(
    gen: Generator, status: int, error_code: str, openai_type: str
) -> None:
    with pytest.raises(ScriptedError) as caught:
        gen.generate(ask(), {"error": {"status": status}}, seed=1, created=1)
    assert (caught.value.status, caught.value.error_code, caught.value.openai_type) == (
        status,
        error_code,
        openai_type,
    )
    assert caught.value.message


def test_default_reply_is_fast(gen: Generator) -> None:
    """Generous bound (CI machines vary): the plain reply must stay in microseconds."""
    request = ask()
    seeds = iter(range(10**9))
    per_call = (
        min(
            timeit.repeat(
                lambda: gen.generate(request, None, seed=next(seeds), created=1),
                number=500,
                repeat=5,
            )
        )
        / 500
    )
    assert per_call < 200e-6


@pytest.mark.parametrize("limit", [1, 4, 8])
def test_a_token_limit_cuts_tool_calls_too(gen: Generator, limit: int) -> None:
    request = ask(
        tools=TOOLS, tool_choice="required", parallel_tool_calls=False, max_completion_tokens=limit
    )
    body = gen.generate(request, None, seed=3, created=1)
    full = gen.generate({**request, "max_completion_tokens": 10_000}, None, seed=3, created=1)
    cut = message(body)["tool_calls"][0]["function"]["arguments"]
    whole = message(full)["tool_calls"][0]["function"]["arguments"]
    assert body["choices"][0]["finish_reason"] == "length"
    assert whole.startswith(cut) and cut != whole
    # A call always keeps its name (and framing), even when the limit is smaller.
    name = message(body)["tool_calls"][0]["function"]["name"]
    floor = gen.tokenizer_for(MODEL).count(name) + 3
    assert body["usage"]["completion_tokens"] <= max(limit, floor)
    assert full["choices"][0]["finish_reason"] == "tool_calls"


def test_a_token_limit_cuts_a_refusal(
    gen: Generator, response_validator: ResponseValidator
) -> None:
    refusal = "I can't help with that request, sorry about it."
    body = build(gen, response_validator, ask(max_completion_tokens=3), {"refusal": refusal})
    cut = message(body)["refusal"]
    assert refusal.startswith(cut) and cut != refusal and cut
    assert body["choices"][0]["finish_reason"] == "length"
    assert body["usage"]["completion_tokens"] == 3


@pytest.mark.parametrize(
    "request_fields",
    [
        {},
        {"n": 3},
        {"tools": TOOLS},
        {"seed": 9, "service_tier": "flex"},
    ],
)
def test_a_canned_reply_takes_the_short_way_to_the_same_body(
    gen: Generator, response_validator: ResponseValidator, request_fields: dict[str, Any]
) -> None:
    """A reply of only canned content skips the per-choice machinery; a spec with a key
    that changes nothing (finish_reason: stop) goes the long way: the bodies are equal."""
    request = ask(**request_fields)
    text = "Sunny all week. Bring a hat!"
    for extra in ({}, {"headers": {"x-a": "1"}, "timing": {"latency_ms": 0}}):
        short = build(gen, response_validator, request, {"content": text, **extra}, seed=4)
        long = build(
            gen, response_validator, request, {"content": text, "finish_reason": "stop"}, seed=4
        )
        assert short == long
        assert [c["message"]["content"] for c in short["choices"]] == [text] * (
            request.get("n") or 1
        )
        assert short["usage"]["completion_tokens"] == text_tokens(gen, short)
