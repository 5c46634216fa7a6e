"""LiteLLM (``litellm.completion`` with an ``openai/`` model) against a real running mockllm.

LiteLLM rebuilds a streamed reply with ``stream_chunk_builder``, joins tool-call
argument deltas by index, and maps a 400 to ``litellm.BadRequestError``.
"""

from __future__ import annotations

import json
import os
from typing import Any

import pytest

# LiteLLM fetches its model cost map from the internet at import unless told to use
# the bundled copy; tests must only talk to 127.0.0.1.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import litellm  # noqa: E402
from client_checks import CASE, assert_names_temperature, assert_text_reply, assert_tool_arguments  # noqa: E402

from mockllm.server import MockLLMServer  # noqa: E402

TOOL: dict[str, Any] = {"type": "function", "function": CASE["tool"]}


@pytest.fixture()
def ask(live_server: MockLLMServer) -> dict[str, Any]:
    """The keyword arguments that point ``litellm.completion`` at the live server."""
    return {
        "model": f"openai/{CASE['model']}",
        "api_base": live_server.base_url,
        "api_key": "sk-test",
        "messages": CASE["messages"],
        "seed": CASE["seed"],
        "num_retries": 0,
    }


def test_plain_completion(ask: dict[str, Any]) -> None:
    reply = litellm.completion(**ask)
    assert_text_reply(reply.choices[0].message.content)
    assert reply.choices[0].finish_reason == "stop"
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + reply.usage.completion_tokens
    assert reply.usage.completion_tokens > 0


def test_stream_accumulates_to_the_plain_reply(ask: dict[str, Any]) -> None:
    plain = litellm.completion(**ask)
    chunks = list(litellm.completion(**ask, stream=True, stream_options={"include_usage": True}))
    assert len(chunks) > 2
    built = litellm.stream_chunk_builder(chunks, messages=ask["messages"])
    assert built is not None
    assert built.choices[0].message.content == plain.choices[0].message.content
    assert built.choices[0].finish_reason == "stop"
    assert built.usage.completion_tokens == plain.usage.completion_tokens


@pytest.mark.parametrize("streamed", [False, True], ids=["plain", "stream"])
def test_tool_call_arguments_are_parsed(ask: dict[str, Any], streamed: bool) -> None:
    request = {**ask, "tools": [TOOL], "tool_choice": "required"}
    if streamed:
        reply = litellm.stream_chunk_builder(list(litellm.completion(**request, stream=True)))
    else:
        reply = litellm.completion(**request)
    assert reply.choices[0].finish_reason == "tool_calls"
    [call] = reply.choices[0].message.tool_calls
    assert call.function.name == CASE["tool"]["name"]
    # LiteLLM leaves the arguments a JSON string, as the API sends them.
    assert_tool_arguments(json.loads(call.function.arguments))


def test_bad_request_is_the_client_error_naming_the_field(ask: dict[str, Any]) -> None:
    with pytest.raises(litellm.BadRequestError) as info:
        litellm.completion(**ask, temperature=3)
    err = info.value
    assert err.status_code == 400
    assert_names_temperature(err.message)
