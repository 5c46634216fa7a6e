"""The Messages surface's parts on plain dicts: validation from Anthropic's OpenAPI
document, the neutral view, the Message, the stream events and the error envelope."""

from __future__ import annotations

import datetime
import json
from pathlib import Path
from typing import Any

import pytest
from faker import Faker

from mockllm import openapigen
from mockllm.config import ValidationMode
from mockllm.errors import (
    BadRequestError,
    RateLimitExceededError,
    RequestValidationError,
    ScriptedError,
    UnauthorizedError,
)
from mockllm.reply_engine.generate import Generator, scripted_error
from mockllm.resources import data_dir
from mockllm.state import MemoryStore
from mockllm.surfaces.messages import caching, errors, headers, stream
from mockllm.surfaces.messages.reply import Caching, build_message, signature
from mockllm.surfaces.messages.request import check_thinking, neutral_view
from mockllm.surfaces.messages.schema import MessagesSchemas

SCHEMAS = MessagesSchemas(ValidationMode.STRICT)
GENERATOR = Generator(Faker())
TOKENIZER = GENERATOR.tokenizer_for("claude-sonnet-4-5")
WEATHER = {
    "name": "get_weather",
    "description": "Weather of a city",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}
TIME = {
    "name": "get_time",
    "input_schema": {
        "type": "object",
        "properties": {"zone": {"type": "string", "enum": ["UTC", "CET"]}},
        "required": ["zone"],
    },
}


def body(**extra: Any) -> dict[str, Any]:
    return {
        "model": "claude-sonnet-4-5",
        "max_tokens": 1024,
        "messages": [{"role": "user", "content": "Hello"}],
        **extra,
    }


def message_for(
    request: dict[str, Any],
    reply: dict[str, Any] | None = None,
    *,
    seed: int = 7,
    caching: Caching | None = None,
) -> dict[str, Any]:
    reply = reply or {}
    generated = GENERATOR.generate(neutral_view(request), reply, seed=seed, created=1)
    message = build_message(request, generated, reply, TOKENIZER, caching or Caching())
    assert SCHEMAS.check("Message", as_read(message)) == []
    return message


def as_read(message: dict[str, Any]) -> dict[str, Any]:
    """``message`` as the SDKs read it: the API leaves out ``citations: null`` on plain
    text blocks, which the document's schema lists as required."""
    blocks = [{"citations": None, **b} if b["type"] == "text" else b for b in message["content"]]
    return {**message, "content": blocks}


# ------------------------------------------------------------------ schemas


def test_the_shipped_schemas_are_what_the_generator_makes_from_the_pinned_extract() -> None:
    assert openapigen.run(data_dir("schemas"), check=True) == 0


def test_the_extract_says_where_it_came_from_and_keeps_the_served_operations() -> None:
    extract = json.loads((data_dir("schemas") / "anthropic" / "openapi.json").read_text())
    source = extract["info"]["x-mockllm-source"]
    assert len(source["sha256_of_whole_document"]) == 64
    assert set(extract["paths"]) == {path for path, _ in openapigen.ANTHROPIC.operations}


def test_generation_is_deterministic_and_checks_the_overlay(tmp_path: Path) -> None:
    folder = data_dir("schemas") / "anthropic"
    extract = json.loads((folder / "openapi.json").read_text())
    first = openapigen.generate_bundles(extract, {"entries": []}, openapigen.ANTHROPIC)
    assert first == openapigen.generate_bundles(extract, {}, openapigen.ANTHROPIC)
    bundle = first["CreateMessageParams.schema.json"]
    assert bundle["$ref"] == "#/definitions/CreateMessageParams"
    assert "description" not in json.dumps(bundle["definitions"]["CreateMessageParams"])
    with pytest.raises(openapigen.OverlayError, match="Nowhere"):
        openapigen.generate_bundles(
            extract,
            {"entries": [{"at": "Nowhere/x", "set": {"a": 1}, "reason": "r"}]},
            openapigen.ANTHROPIC,
        )
    with pytest.raises(openapigen.OverlayError, match="reason"):
        openapigen.generate_bundles(
            extract, {"entries": [{"at": "InputMessage", "set": {"a": 1}}]}, openapigen.ANTHROPIC
        )


def test_every_bad_field_is_named_at_once_in_the_apis_words() -> None:
    bad = {
        "model": "claude-x",
        "temperature": 3,
        "stop_sequences": "END",
        "thinking": {"type": "enabled", "budget_tokens": 10},
        "tool_choice": {"type": "tool"},
        "tools": [{"name": "bad name", "input_schema": {"type": "object"}}],
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text"},
                    {"text": "no type"},
                    {"type": "image", "source": {"type": "base64"}},
                ],
            },
            {"role": "bot", "content": 3},
        ],
    }
    found = {p.param: p.message for p in SCHEMAS.check("CreateMessageParams", bad)}
    assert found == {
        "max_tokens": "Field required",
        "temperature": "Input should be less than or equal to 1",
        "stop_sequences": "Input should be a valid list",
        "thinking.budget_tokens": "Input should be greater than or equal to 1024",
        "tool_choice.name": "Field required",
        "tools.0.name": "String should match pattern '^[a-zA-Z0-9_-]{1,128}$'",
        "messages.0.content.0.text": "Field required",
        "messages.0.content.1.type": "Field required",
        "messages.0.content.2.source.data": "Field required",
        "messages.0.content.2.source.media_type": "Field required",
        "messages.1.role": "Input should be 'user', 'assistant' or 'system'",
        "messages.1.content": "Input should be a valid list or a valid string",
    }


def test_what_the_pinned_document_predates_passes_and_known_fields_stay_checked() -> None:
    newer = body(
        prefill="x",
        speed="fast",
        messages=[
            {"role": "user", "content": [{"type": "some_block_of_2027", "x": 1}]},
            {"role": "system", "content": "mid-conversation system message"},
        ],
    )
    assert SCHEMAS.check("CreateMessageParams", newer) == []
    nested = body(
        messages=[{"role": "user", "content": [{"type": "text", "text": "a", "colour": "red"}]}]
    )
    assert [p.param for p in SCHEMAS.check("CreateMessageParams", nested)] == [
        "messages.0.content.0.colour"
    ]
    assert MessagesSchemas(ValidationMode.LENIENT).check("CreateMessageParams", nested) == []
    assert MessagesSchemas(ValidationMode.OFF).check("CreateMessageParams", {}) == []


def test_count_tokens_and_the_beta_body_have_their_own_schemas() -> None:
    assert (
        SCHEMAS.check(
            "CountMessageTokensParams",
            {"model": "m", "messages": [{"role": "user", "content": "hi"}]},
        )
        == []
    )
    assert [p.param for p in SCHEMAS.check("CountMessageTokensParams", {"model": "m"})] == [
        "messages"
    ]
    beta = body(context_management={"edits": [{"type": "clear_tool_uses_20250919"}]})
    assert SCHEMAS.check("BetaCreateMessageParams", beta) == []


# ------------------------------------------------------------------ the neutral view


def test_the_view_reads_system_tools_results_and_choices_as_chat_does() -> None:
    view = neutral_view(
        body(
            system=[{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}],
            tools=[WEATHER, {"type": "web_search_20250305", "name": "web_search"}],
            tool_choice={"type": "any", "disable_parallel_tool_use": True},
            stop_sequences=["END"],
            metadata={"user_id": "u1"},
            messages=[
                {"role": "user", "content": "Weather in Paris?"},
                {
                    "role": "assistant",
                    "content": [
                        {"type": "thinking", "thinking": "hm", "signature": "s"},
                        {"type": "text", "text": "Let me check."},
                        {
                            "type": "tool_use",
                            "id": "toolu_1",
                            "name": "get_weather",
                            "input": {"city": "Paris"},
                        },
                    ],
                },
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "tool_result",
                            "tool_use_id": "toolu_1",
                            "content": "18C",
                            "is_error": True,
                        }
                    ],
                },
            ],
        )
    )
    assert view["messages"] == [
        {"role": "system", "content": [{"type": "text", "text": "Be brief."}]},
        {"role": "user", "content": "Weather in Paris?"},
        {
            "role": "assistant",
            "content": "Let me check.",
            "tool_calls": [
                {
                    "id": "toolu_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "toolu_1", "content": "18C", "is_error": True},
    ]
    assert view["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "parameters": WEATHER["input_schema"],
                "description": "Weather of a city",
            },
        },
        {"type": "web_search_20250305", "name": "web_search"},
    ]
    assert view["tool_choice"] == "required" and view["parallel_tool_calls"] is False
    assert view["max_completion_tokens"] == 1024 and view["user"] == "u1"
    assert "stop" not in view  # the reply applies stop_sequences itself


@pytest.mark.parametrize(
    ("choice", "neutral"),
    [
        ({"type": "auto"}, "auto"),
        ({"type": "any"}, "required"),
        ({"type": "none"}, "none"),
        (
            {"type": "tool", "name": "get_weather"},
            {"type": "function", "function": {"name": "get_weather"}},
        ),
    ],
)
def test_tool_choice_maps_to_the_chat_choice(choice: dict[str, Any], neutral: Any) -> None:
    assert neutral_view(body(tools=[WEATHER], tool_choice=choice))["tool_choice"] == neutral


@pytest.mark.parametrize(
    ("thinking", "config", "effort"),
    [
        ({"type": "enabled", "budget_tokens": 1024}, None, "low"),
        ({"type": "enabled", "budget_tokens": 8000}, None, "medium"),
        ({"type": "enabled", "budget_tokens": 32000}, None, "high"),
        ({"type": "adaptive"}, {"effort": "max"}, "high"),
        ({"type": "adaptive"}, None, "medium"),
        ({"type": "disabled"}, None, None),
    ],
)
def test_thinking_becomes_a_reasoning_effort(
    thinking: dict[str, Any], config: Any, effort: str | None
) -> None:
    extra = {"output_config": config} if config else {}
    assert neutral_view(body(thinking=thinking, **extra)).get("reasoning_effort") == effort


def test_images_and_documents_are_prompt_parts() -> None:
    view = neutral_view(
        body(
            messages=[
                {
                    "role": "user",
                    "content": [
                        {"type": "image", "source": {"type": "url", "url": "https://x/y.png"}},
                        {
                            "type": "document",
                            "source": {
                                "type": "text",
                                "media_type": "text/plain",
                                "data": "The doc.",
                            },
                        },
                        {
                            "type": "document",
                            "title": "r.pdf",
                            "source": {
                                "type": "base64",
                                "media_type": "application/pdf",
                                "data": "JVBE",
                            },
                        },
                        {"type": "text", "text": "Summarise."},
                    ],
                }
            ]
        )
    )
    assert view["messages"][0]["content"] == [
        {"type": "image_url", "image_url": {"url": "https://x/y.png"}},
        {"type": "text", "text": "The doc."},
        {"type": "file", "file": {"filename": "r.pdf"}},
        {"type": "text", "text": "Summarise."},
    ]


# ------------------------------------------------------------------ the Message


def test_a_plain_reply_is_a_text_message_with_full_usage() -> None:
    message = message_for(body())
    assert message["id"].startswith("msg_01") and message["stop_reason"] == "end_turn"
    assert [b["type"] for b in message["content"]] == ["text"]
    usage = message["usage"]
    assert usage["input_tokens"] == GENERATOR.count_prompt(neutral_view(body())).total
    assert usage["output_tokens"] == TOKENIZER.count(message["content"][0]["text"])
    assert message == message_for(body())  # same seed, same message


def test_stop_sequences_cut_at_the_earliest_and_say_which() -> None:
    message = message_for(body(stop_sequences=["never", "two"]), {"content": "one two three"})
    assert message["content"][0]["text"] == "one "
    assert (message["stop_reason"], message["stop_sequence"]) == ("stop_sequence", "two")
    assert message["usage"]["output_tokens"] == TOKENIZER.count("one ")


def test_max_tokens_cuts_the_text() -> None:
    message = message_for(body(max_tokens=3), {"content": "one two three four five six"})
    assert message["stop_reason"] == "max_tokens"
    assert message["usage"]["output_tokens"] == 3


def test_tool_calls_become_tool_use_blocks_fitted_to_the_schema() -> None:
    request = body(tools=[WEATHER, TIME], tool_choice={"type": "any"})
    message = message_for(request, {"tool_calls": [{"name": "get_weather"}, {"name": "get_time"}]})
    uses = [b for b in message["content"] if b["type"] == "tool_use"]
    assert [u["name"] for u in uses] == ["get_weather", "get_time"]
    assert all(u["id"].startswith("toolu_01") for u in uses)
    assert isinstance(uses[0]["input"]["city"], str) and uses[1]["input"]["zone"] in ("UTC", "CET")
    assert message["stop_reason"] == "tool_use"
    single = message_for(
        {**request, "tool_choice": {"type": "any", "disable_parallel_tool_use": True}},
        {"tool_calls": [{"name": "get_weather"}, {"name": "get_time"}]},
    )
    assert [b["name"] for b in single["content"] if b["type"] == "tool_use"] == ["get_weather"]


def test_thinking_comes_first_with_a_signature_that_follows_the_text() -> None:
    request = body(max_tokens=4096, thinking={"type": "enabled", "budget_tokens": 2048})
    message = message_for(request)
    thinking, text = message["content"]
    assert (thinking["type"], text["type"]) == ("thinking", "text")
    assert thinking["thinking"] and thinking["signature"] == signature(
        thinking["thinking"], "claude-sonnet-4-5"
    )
    assert signature("a", "m") != signature("b", "m")
    assert message["usage"]["output_tokens"] == TOKENIZER.count(
        thinking["thinking"]
    ) + TOKENIZER.count(text["text"])
    omitted = message_for(
        {**request, "thinking": {"type": "enabled", "budget_tokens": 2048, "display": "omitted"}}
    )
    assert omitted["content"][0]["thinking"] == "" and omitted["content"][0]["signature"]
    redacted = message_for(request, {"redacted_thinking": True})
    assert redacted["content"][0]["type"] == "redacted_thinking"
    assert redacted["content"][0]["data"]


def test_url_citations_become_cited_text_blocks() -> None:
    message = message_for(
        body(),
        {
            "content": "Paris is the capital of France.",
            "annotations": [
                {"url": "https://en.wikipedia.org/P", "title": "Paris", "text": "capital"}
            ],
        },
    )
    assert [b["text"] for b in message["content"]] == ["Paris is the ", "capital", " of France."]
    cited = message["content"][1]["citations"][0]
    assert cited["type"] == "web_search_result_location" and cited["cited_text"] == "capital"


def test_the_prompt_cache_splits_the_input_side_only() -> None:
    plain = message_for(body())
    cached = message_for(body(), caching=Caching(read=5, written_1h=3))
    usage = cached["usage"]
    assert usage["cache_read_input_tokens"] == 5 and usage["cache_creation_input_tokens"] == 3
    assert usage["cache_creation"] == {
        "ephemeral_5m_input_tokens": 0,
        "ephemeral_1h_input_tokens": 3,
    }
    assert usage["input_tokens"] + 8 == plain["usage"]["input_tokens"]


# ------------------------------------------------------------------ the stream


def _events(message: dict[str, Any], size: int = 1) -> list[dict[str, Any]]:
    return list(stream.iter_events(message, TOKENIZER, chunk_size=size))


def _accumulate(events: list[dict[str, Any]]) -> dict[str, Any]:
    """What the SDKs' accumulators build from the events."""
    message = dict(events[0]["message"])
    blocks: list[dict[str, Any]] = []
    partial: dict[int, str] = {}
    for event in events[1:]:
        if event["type"] == "content_block_start":
            blocks.append(dict(event["content_block"]))
        elif event["type"] == "content_block_delta":
            block, delta = blocks[event["index"]], event["delta"]
            if delta["type"] == "text_delta":
                block["text"] += delta["text"]
            elif delta["type"] == "thinking_delta":
                block["thinking"] += delta["thinking"]
            elif delta["type"] == "signature_delta":
                block["signature"] = delta["signature"]
            elif delta["type"] == "input_json_delta":
                partial[event["index"]] = partial.get(event["index"], "") + delta["partial_json"]
        elif event["type"] == "message_delta":
            message.update(event["delta"])
            message["usage"] = {**message["usage"], **event["usage"]}
    for index, text in partial.items():
        blocks[index]["input"] = json.loads(text) if text else {}
    message["content"] = blocks
    return message


@pytest.mark.parametrize("size", [1, 5])
def test_a_stream_adds_up_to_the_plain_message(size: int) -> None:
    request = body(
        max_tokens=4096, thinking={"type": "enabled", "budget_tokens": 2048}, tools=[WEATHER]
    )
    message = message_for(
        request, {"content": "Checking.", "tool_calls": [{"name": "get_weather"}]}
    )
    events = _events(message, size)
    assert [e["type"] for e in events[:3]] == ["message_start", "content_block_start", "ping"]
    assert [e["type"] for e in events[-2:]] == ["message_delta", "message_stop"]
    assert events[0]["message"]["usage"]["output_tokens"] == 1
    assert events[0]["message"]["stop_reason"] is None
    for event in events:
        block = event.get("content_block")
        read = (
            {**event, "content_block": {"citations": None, **block}}
            if (block and block["type"] == "text")
            else event
        )  # as as_read() says
        assert SCHEMAS.check("MessageStreamEvent", read) == [], event
    rebuilt = _accumulate(events)
    assert rebuilt["content"] == message["content"]
    assert rebuilt["stop_reason"] == "tool_use" and rebuilt["usage"] == message["usage"]
    deltas = [e["delta"] for e in events if e["type"] == "content_block_delta"]
    first_json = next(d for d in deltas if d["type"] == "input_json_delta")
    assert first_json["partial_json"] == ""
    assert sum(d["type"] == "signature_delta" for d in deltas) == 1


def test_events_are_framed_with_their_names_and_no_done() -> None:
    framed = stream.events(message_for(body(), {"content": "Hi there"}), TOKENIZER)
    assert framed[0].startswith(b'event: message_start\ndata: {"type":"message_start"')
    assert framed[-1] == b'event: message_stop\ndata: {"type":"message_stop"}\n\n'
    assert all(f.endswith(b"}\n\n") and b"\r" not in f for f in framed)
    assert not any(b"[DONE]" in f for f in framed)


def test_a_redacted_block_arrives_whole() -> None:
    message = message_for(
        body(thinking={"type": "enabled", "budget_tokens": 1024}), {"redacted_thinking": "opaque"}
    )
    events = _events(message)
    assert events[1] == {
        "type": "content_block_start",
        "index": 0,
        "content_block": {"type": "redacted_thinking", "data": "opaque"},
    }
    assert events[3] == {"type": "content_block_stop", "index": 0}


# ------------------------------------------------------------------ errors


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (400, "invalid_request_error"),
        (401, "authentication_error"),
        (403, "permission_error"),
        (404, "not_found_error"),
        (413, "request_too_large"),
        (429, "rate_limit_error"),
        (500, "api_error"),
        (504, "timeout_error"),
        (529, "overloaded_error"),
        (422, "invalid_request_error"),
        (503, "api_error"),
    ],
)
def test_each_status_has_anthropics_type(status: int, kind: str) -> None:
    assert errors.error_type(scripted_error({"status": status})) == kind


def test_a_scripted_type_wins_and_the_envelope_has_the_request_id() -> None:
    error = scripted_error({"status": 500, "type": "overloaded_error", "message": "Overloaded"})
    assert errors.error_body(error, "req_1") == {
        "type": "error",
        "error": {"type": "overloaded_error", "message": "Overloaded"},
        "request_id": "req_1",
    }
    assert errors.error_type(RateLimitExceededError("slow down")) == "rate_limit_error"
    assert errors.error_type(ScriptedError("x", status=418)) == "invalid_request_error"


def test_every_field_problem_is_in_the_one_message() -> None:
    problems = SCHEMAS.check("CreateMessageParams", {"model": "m"})
    body_ = errors.error_body(RequestValidationError(problems), None)
    assert body_["error"]["type"] == "invalid_request_error"
    assert sorted(body_["error"]["message"].split("; ")) == [
        "max_tokens: Field required",
        "messages: Field required",
    ]
    assert errors.error_body(BadRequestError("plain"), None)["error"]["message"] == "plain"


def test_a_stream_error_event_is_framed_like_the_apis() -> None:
    assert stream.frame_error(scripted_error({"status": 529, "message": "Overloaded"})) == (
        b'event: error\ndata: {"type":"error","error":{"type":"overloaded_error",'
        b'"message":"Overloaded"}}\n\n'
    )


# ------------------------------------------------------------------ prompt caching

LONG = "The quick brown fox jumps over the lazy dog. " * 200  # about 2,000 tokens


def _count(prefix: Any) -> int:
    return GENERATOR.count_prompt(neutral_view(prefix)).total


def _cached(**extra: Any) -> dict[str, Any]:
    return body(
        system=[{"type": "text", "text": LONG, "cache_control": {"type": "ephemeral"}}], **extra
    )


async def test_the_first_call_writes_the_prefix_and_a_repeat_reads_it() -> None:
    store = MemoryStore()
    request = _cached()
    total = _count(request)
    first = await caching.simulate(store, request, _count)
    assert first.read == 0 and first.written_5m > 1000 and first.written_1h == 0
    again = await caching.simulate(store, request, _count)
    assert again == Caching(read=first.written_5m)
    assert again.read < total  # the rest of the prompt is fresh input
    other = _cached(messages=[{"role": "user", "content": "Another question"}])
    assert (await caching.simulate(store, other, _count)).read == first.written_5m


async def test_a_longer_prefix_reads_the_shorter_one_and_writes_the_rest() -> None:
    store = MemoryStore()
    await caching.simulate(store, _cached(), _count)
    longer = _cached(
        messages=[
            {
                "role": "user",
                "content": [
                    {
                        "type": "text",
                        "text": LONG + " more",
                        "cache_control": {"type": "ephemeral", "ttl": "1h"},
                    }
                ],
            }
        ]
    )
    split = await caching.simulate(store, longer, _count)
    points = caching.breakpoints(longer)
    assert split.read == _count(points[0].prefix)
    assert split.written_1h == _count(points[1].prefix) - split.read
    assert split.written_5m == 0


async def test_short_prefixes_are_not_cached_and_too_many_marks_are_refused() -> None:
    store = MemoryStore()
    short = body(system=[{"type": "text", "text": "short", "cache_control": {"type": "ephemeral"}}])
    assert await caching.simulate(store, short, _count) == Caching()
    assert await caching.simulate(store, short, _count) == Caching()
    mark = {"type": "ephemeral"}
    crowded = body(
        system=[{"type": "text", "text": str(i), "cache_control": mark} for i in range(5)]
    )
    with pytest.raises(BadRequestError, match="A maximum of 4 blocks with cache_control"):
        caching.check_breakpoints(crowded)
    caching.check_breakpoints(body(cache_control=mark))  # the top-level mark is one


def test_the_top_level_mark_caches_up_to_the_last_block() -> None:
    request = body(
        cache_control={"type": "ephemeral", "ttl": "1h"},
        messages=[
            {"role": "user", "content": "a"},
            {"role": "assistant", "content": "b"},
            {"role": "user", "content": "c"},
        ],
    )
    (point,) = caching.breakpoints(request)
    assert point.ttl == "1h" and len(point.prefix["messages"]) == 3


# ------------------------------------------------------------------ headers, models, rules


def test_a_key_is_needed_in_either_header_and_versions_are_checked() -> None:
    with pytest.raises(UnauthorizedError, match="x-api-key header is required"):
        headers.check({"anthropic-version": "2023-06-01"})
    assert headers.check({"x-api-key": "k"}) == "2023-06-01"
    assert headers.check({"authorization": "Bearer t", "anthropic-version": "2026-10-21"}) == (
        "2026-10-21"
    )
    with pytest.raises(BadRequestError, match='anthropic-version: "2024-01-01" is not a valid'):
        headers.check({"x-api-key": "k", "anthropic-version": "2024-01-01"})
    assert headers.is_beta({}, {"beta": "true"}) and headers.is_beta({"anthropic-beta": "x"}, {})
    assert not headers.is_beta({}, {})


def test_the_newer_version_refuses_sampling_and_misplaced_blocks() -> None:
    request = body(
        temperature=1,
        top_k=5,
        messages=[
            {"role": "user", "content": [{"type": "text", "text": "q", "citations": [{"x": 1}]}]},
            {"role": "assistant", "content": [{"type": "document", "source": {}}]},
        ],
    )
    assert headers.version_rules("2023-06-01", request) == []
    assert [p.param for p in headers.version_rules("2026-10-21", request)] == [
        "temperature",
        "top_k",
        "messages.0.content.0.citations",
        "messages.1.content.0",
    ]


def test_rate_limit_headers_are_spelt_as_anthropics() -> None:
    now = datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)
    spelt = headers.reply_headers(
        "req_1",
        {
            "x-ratelimit-limit-requests": "60",
            "x-ratelimit-remaining-requests": "59",
            "x-ratelimit-reset-requests": "1m0s",
            "x-ratelimit-reset-tokens": "120ms",
            "retry-after": "2",
        },
        now,
    )
    assert spelt == {
        "anthropic-ratelimit-requests-limit": "60",
        "anthropic-ratelimit-requests-remaining": "59",
        "anthropic-ratelimit-requests-reset": "2026-01-02T03:05:05Z",
        "anthropic-ratelimit-tokens-reset": "2026-01-02T03:04:05Z",
        "anthropic-ratelimit-input-tokens-reset": "2026-01-02T03:04:05Z",
        "retry-after": "2",
        "request-id": "req_1",
    }


@pytest.mark.parametrize(
    ("extra", "refused"),
    [
        (
            {"max_tokens": 2000, "thinking": {"type": "enabled", "budget_tokens": 2000}},
            "max_tokens",
        ),
        (
            {"thinking": {"type": "adaptive"}, "tools": [WEATHER], "tool_choice": {"type": "any"}},
            "tool_choice",
        ),
        ({"thinking": {"type": "adaptive"}, "temperature": 0.5}, "temperature"),
        ({"thinking": {"type": "disabled"}, "temperature": 0.5}, None),
        ({"max_tokens": 3000, "thinking": {"type": "enabled", "budget_tokens": 2000}}, None),
    ],
)
def test_thinkings_rules(extra: dict[str, Any], refused: str | None) -> None:
    if refused is None:
        check_thinking(body(**extra))
        return
    with pytest.raises(BadRequestError) as caught:
        check_thinking(body(**extra))
    assert caught.value.param == refused
