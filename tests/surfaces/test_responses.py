"""The Responses API (``/v1/responses``) through the real openai SDK (strict response
validation on) against a real running mockllm, from the same scenarios as chat."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

import openai
import pytest
from pydantic import BaseModel

from mockllm import MockLLM

WEATHER_TOOL: dict[str, Any] = {
    "type": "function",
    "name": "get_weather",
    "description": "Weather in a city",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
        "additionalProperties": False,
    },
    "strict": True,
}
# One chat-format scenario file: the same YAML answers both surfaces.
SCENARIOS: list[dict[str, Any]] = [
    {
        "name": "weather-call",
        "when": {"last_user_message": {"contains": "weather"}, "last_role": "user"},
        "reply": {
            "tool_calls": [
                {"name": "get_weather", "arguments": {"city": "Paris"}},
                {"name": "get_weather", "arguments": {"city": "Rome"}},
            ]
        },
    },
    {
        "name": "weather-answer",
        "when": {"tool_result": "get_weather"},
        "reply": {"content": "Sunny in both."},
    },
    {
        "name": "limited",
        "when": {"last_user_message": {"contains": "quota"}},
        "reply": {
            "error": {
                "status": 429,
                "message": "Slow down",
                "code": "rate_limit_exceeded",
                "headers": {"Retry-After": "1"},
            }
        },
    },
    {
        "name": "greeting",
        "when": {"last_user_message": {"contains": "hello"}},
        "reply": {"content": "Hello there, friend."},
    },
]


@pytest.fixture()
def client(mockllm: MockLLM) -> openai.OpenAI:
    mockllm.add(SCENARIOS)
    return openai.OpenAI(
        base_url=mockllm.base_url,
        api_key="sk-test",
        max_retries=0,
        _strict_response_validation=True,
    )


def test_a_chat_scenario_answers_both_surfaces(client: openai.OpenAI, mockllm: MockLLM) -> None:
    response = client.responses.create(model="gpt-4o", input="hello?")
    chat = client.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "hello?"}]
    )
    assert response.output_text == chat.choices[0].message.content == "Hello there, friend."
    assert response.id.startswith("resp_") and response.status == "completed"
    assert response.output[0].type == "message" and response.output[0].id.startswith("msg_")
    usage = response.usage
    assert usage is not None and usage.input_tokens > 0 and usage.output_tokens > 0
    assert usage.total_tokens == usage.input_tokens + usage.output_tokens
    assert usage.input_tokens_details.cached_tokens == 0
    assert [e.surface for e in mockllm.requests] == ["responses", "chat"]
    assert len(mockllm.requests_where(surface="responses", scenario="greeting")) == 1


def test_the_same_request_and_seed_give_the_same_bytes(mockllm: MockLLM) -> None:
    def post() -> bytes:
        request = urllib.request.Request(
            mockllm.base_url + "/responses",
            method="POST",
            data=json.dumps({"model": "gpt-4o", "input": "tell me more"}).encode(),
            headers={"Content-Type": "application/json", "Prefer": "seed=5"},
        )
        with urllib.request.urlopen(request) as answer:
            return bytes(answer.read())

    assert post() == post()


def test_a_stream_has_typed_events_in_order_and_rebuilds_the_response(
    client: openai.OpenAI,
) -> None:
    with client.responses.stream(model="gpt-4o", input="hello") as events:
        seen = list(events)
        final = events.get_final_response()
    assert [e.sequence_number for e in seen] == list(range(len(seen)))
    kinds = [e.type for e in seen]
    assert kinds[:5] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
    ]
    assert kinds[-4:] == [
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert (
        "".join(e.delta for e in seen if e.type == "response.output_text.delta")
        == final.output_text
        == "Hello there, friend."
    )


def test_the_raw_stream_names_each_event_and_ends_without_done(mockllm: MockLLM) -> None:
    mockllm.add(SCENARIOS)
    request = urllib.request.Request(
        mockllm.base_url + "/responses",
        method="POST",
        data=json.dumps({"model": "gpt-4o", "input": "hello", "stream": True}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request) as answer:
        raw = answer.read().decode()
        assert answer.headers["Content-Type"].startswith("text/event-stream")
    blocks = [b for b in raw.split("\n\n") if b]
    for block in blocks:
        name, data = block.split("\n")
        assert json.loads(data.removeprefix("data: "))["type"] == name.removeprefix("event: ")
    assert "[DONE]" not in raw and raw.endswith("\n\n")


def test_parallel_function_calls_stream_their_arguments(client: openai.OpenAI) -> None:
    tools: Any = [WEATHER_TOOL]
    response = client.responses.create(model="gpt-4o", input="weather?", tools=tools)
    calls = [item for item in response.output if item.type == "function_call"]
    assert [(c.name, json.loads(c.arguments)) for c in calls] == [
        ("get_weather", {"city": "Paris"}),
        ("get_weather", {"city": "Rome"}),
    ]
    assert all(c.id.startswith("fc_") and c.call_id.startswith("call_") for c in calls)
    assert response.status == "completed"
    with client.responses.stream(model="gpt-4o", input="weather?", tools=tools) as events:
        deltas = [e for e in events if e.type == "response.function_call_arguments.delta"]
        final = events.get_final_response()
    assert {e.output_index for e in deltas} == {0, 1} and len(deltas) > 2
    assert [(c.id, c.call_id, c.arguments) for c in calls] == [
        (c.id, c.call_id, c.arguments) for c in final.output if c.type == "function_call"
    ]


def test_a_tool_loop_continues_from_the_previous_response(client: openai.OpenAI) -> None:
    tools: Any = [WEATHER_TOOL]
    first = client.responses.create(model="gpt-4o", input="weather?", tools=tools)
    outputs: Any = [
        {"type": "function_call_output", "call_id": item.call_id, "output": "sunny"}
        for item in first.output
        if item.type == "function_call"
    ]
    second = client.responses.create(
        model="gpt-4o", previous_response_id=first.id, input=outputs, tools=tools
    )
    assert second.output_text == "Sunny in both."
    assert second.previous_response_id == first.id
    assert second.usage is not None and first.usage is not None
    assert second.usage.input_tokens > first.usage.input_tokens
    assert client.responses.retrieve(second.id).output_text == "Sunny in both."
    items = client.responses.input_items.list(second.id, order="asc")
    assert [getattr(i, "call_id", None) for i in items.data] == [o["call_id"] for o in outputs]
    client.responses.delete(second.id)
    with pytest.raises(openai.NotFoundError, match="not found"):
        client.responses.retrieve(second.id)


def test_an_unknown_previous_response_is_the_apis_400(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.responses.create(model="gpt-4o", input="hello", previous_response_id="resp_x")
    assert caught.value.code == "previous_response_not_found"
    assert caught.value.param == "previous_response_id"


def test_store_false_keeps_nothing(client: openai.OpenAI) -> None:
    response = client.responses.create(model="gpt-4o", input="hello, not kept", store=False)
    assert response.store is False
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(response.id)


class Weather(BaseModel):
    city: str
    degrees: int


def test_parse_fills_a_pydantic_model_from_json_schema(client: openai.OpenAI) -> None:
    parsed = client.responses.parse(model="gpt-4o", input="forecast", text_format=Weather)
    assert isinstance(parsed.output_parsed, Weather)
    obj = client.responses.create(
        model="gpt-4o", input="forecast", text={"format": {"type": "json_object"}}
    )
    assert isinstance(json.loads(obj.output_text), dict)


def test_reasoning_items_with_summaries_and_encrypted_content(client: openai.OpenAI) -> None:
    # A model the catalog does not know shows its reasoning when asked to reason.
    ask: Any = {"model": "my-reasoner", "input": "think about it",
                "reasoning": {"effort": "low", "summary": "auto"}}  # fmt: skip
    response = client.responses.create(**ask, include=["reasoning.encrypted_content"])
    reasoning = response.output[0]
    assert reasoning.type == "reasoning" and reasoning.id.startswith("rs_")
    assert reasoning.summary and reasoning.summary[0].text
    assert reasoning.encrypted_content
    assert response.usage is not None
    assert response.usage.output_tokens_details.reasoning_tokens > 0
    with client.responses.stream(**ask) as events:
        kinds = [e.type for e in events]
    assert "response.reasoning_summary_text.delta" in kinds
    # OpenAI's reasoning models only count their thinking: an item without a summary.
    counted = client.responses.create(model="o3", input="think about it")
    assert counted.output[0].type == "reasoning" and counted.output[0].summary == []
    assert counted.usage is not None
    assert counted.usage.output_tokens_details.reasoning_tokens > 0


def test_max_output_tokens_makes_an_incomplete_response(client: openai.OpenAI) -> None:
    response = client.responses.create(
        model="gpt-4o", input="tell a long story", max_output_tokens=16
    )
    assert response.status == "incomplete"
    assert response.incomplete_details is not None
    assert response.incomplete_details.reason == "max_output_tokens"
    assert response.usage is not None and response.usage.output_tokens == 16


def test_scripted_errors_use_openais_envelope(client: openai.OpenAI) -> None:
    with pytest.raises(openai.RateLimitError) as caught:
        client.responses.create(model="gpt-4o", input="quota?")
    assert caught.value.code == "rate_limit_exceeded"
    assert caught.value.response.headers["retry-after"] == "1"
    assert "responseStatus" not in caught.value.response.json()


@pytest.mark.mockllm(fail_on_invalid=False)
def test_every_bad_field_is_named_at_once(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.responses.create(
            model="gpt-4o",
            input="hello",
            max_output_tokens=3,
            temperature=7,
            extra_body={"messages": []},
        )
    message = str(caught.value)
    assert "max_output_tokens" in message and "temperature" in message
    assert "Unknown parameter: 'messages'" in message
    assert caught.value.param == "messages"
    with pytest.raises(openai.BadRequestError, match="Missing required parameter: 'model'"):
        client.responses.create(input="hello")  # type: ignore[call-overload]


def test_input_tokens_counts_like_usage(client: openai.OpenAI) -> None:
    response = client.responses.create(model="gpt-4o", input="hello")
    counted = client.responses.input_tokens.count(model="gpt-4o", input="hello")
    assert response.usage is not None
    assert counted.input_tokens == response.usage.input_tokens


def test_refusals_citations_and_a_broken_stream(mockllm: MockLLM) -> None:
    mockllm.add(
        [
            {
                "name": "refuse",
                "when": {"last_user_message": {"contains": "bad"}},
                "reply": {"refusal": "I can't help"},
            },
            {
                "name": "cite",
                "when": {"last_user_message": {"contains": "cite"}},
                "reply": {
                    "content": "Paris is the capital of France.",
                    "annotations": [{"url": "https://x.org", "title": "X", "text": "capital"}],
                },
            },
            {
                "name": "broken",
                "when": {"last_user_message": {"contains": "fault"}},
                "reply": {
                    "content": "a b c d e f g",
                    "fault": {"kind": "stream_error", "after_chunks": 4},
                },
            },
        ]
    )
    client = openai.OpenAI(
        base_url=mockllm.base_url,
        api_key="sk-test",
        max_retries=0,
        _strict_response_validation=True,
    )
    refused = client.responses.create(model="gpt-4o", input="bad")
    assert refused.output[0].content[0].type == "refusal"
    with client.responses.stream(model="gpt-4o", input="cite") as events:
        kinds = [e.type for e in events]
        final = events.get_final_response()
    part = final.output[0].content[0]
    assert part.type == "output_text"
    [note] = part.annotations
    assert note.type == "url_citation" and part.text[note.start_index : note.end_index] == "capital"
    assert kinds.index("response.output_text.annotation.added") < kinds.index(
        "response.output_text.done"
    )
    with pytest.raises(openai.APIError, match="had an error"):
        with client.responses.stream(model="gpt-4o", input="fault") as events:
            for _ in events:
                pass


def test_a_background_response_is_queued_then_done_or_cancelled(client: openai.OpenAI) -> None:
    queued = client.responses.create(model="gpt-4o", input="hello", background=True)
    assert (queued.status, queued.output, queued.usage) == ("queued", [], None)
    done = client.responses.retrieve(queued.id)
    assert done.status == "completed" and done.output_text == "Hello there, friend."
    with pytest.raises(openai.BadRequestError, match="status 'completed'"):
        client.responses.cancel(queued.id)
    other = client.responses.create(model="gpt-4o", input="hello again", background=True)
    cancelled = client.responses.cancel(other.id)
    assert cancelled.status == "cancelled"
    assert client.responses.retrieve(other.id).status == "cancelled"
    plain = client.responses.create(model="gpt-4o", input="hello, plain")
    with pytest.raises(openai.BadRequestError, match="background=true"):
        client.responses.cancel(plain.id)
