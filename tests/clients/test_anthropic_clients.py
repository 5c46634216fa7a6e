"""Claude clients other than the anthropic Python SDK against mockllm's Messages API:
LangChain's ``ChatAnthropic``, LiteLLM's ``anthropic/`` models, the anthropic Node SDK
and the Vercel AI SDK's ``@ai-sdk/anthropic`` (each with its base URL as its docs say:
the Node scripts are given the server's root)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no download at import

import anthropic  # noqa: E402
import litellm  # noqa: E402
from client_checks import CASE, assert_text_reply, assert_tool_arguments  # noqa: E402
from langchain_anthropic import ChatAnthropic  # noqa: E402
from langchain_core.messages import AIMessageChunk  # noqa: E402
from test_node_clients import _tool, node_ready  # noqa: E402,F401

from mockllm.server import MockLLMServer  # noqa: E402

CLAUDE = {**CASE, "model": "claude-sonnet-4-5"}
# Messages requests carry no seed: mockllm's Prefer header gives one, so a plain reply and
# a stream of the same request can be compared.
SEEDED = {"Prefer": f"seed={CASE['seed']}"}
TOOL = {
    "name": CASE["tool"]["name"],
    "description": "The weather",
    "input_schema": CASE["tool"]["parameters"],
}


def _root(server: MockLLMServer) -> str:
    return server.base_url.removesuffix("/v1")


# ------------------------------------------------------------------ LangChain


@pytest.fixture()
def chat(live_server: MockLLMServer) -> ChatAnthropic:
    return ChatAnthropic(
        model=CLAUDE["model"],
        base_url=_root(live_server),
        api_key="sk-ant-test",
        max_retries=0,
        max_tokens=300,
        default_headers=SEEDED,
    )


def test_langchain_invoke_stream_and_tools(chat: ChatAnthropic) -> None:
    reply = chat.invoke(CLAUDE["messages"][0]["content"])
    text = assert_text_reply(reply.content)
    assert reply.usage_metadata and reply.usage_metadata["output_tokens"] > 0
    total: AIMessageChunk | None = None
    for chunk in chat.stream(CLAUDE["messages"][0]["content"]):
        assert isinstance(chunk, AIMessageChunk)
        total = chunk if total is None else total + chunk
    assert total is not None
    streamed = (
        total.content
        if isinstance(total.content, str)
        else "".join(part.get("text", "") for part in total.content if isinstance(part, dict))
    )
    assert streamed == text
    bound = chat.bind_tools([TOOL], tool_choice="any")
    called = bound.invoke(CLAUDE["messages"][0]["content"])
    assert called.tool_calls[0]["name"] == TOOL["name"]
    assert_tool_arguments(called.tool_calls[0]["args"])


def test_langchain_raises_the_sdks_error(chat: ChatAnthropic) -> None:
    with pytest.raises(anthropic.BadRequestError, match="top_k"):
        chat.bind(top_k=-1).invoke("hi")


# ------------------------------------------------------------------ LiteLLM


def test_litellm_completion_stream_and_tools(live_server: MockLLMServer) -> None:
    ask: dict[str, Any] = {
        "model": f"anthropic/{CLAUDE['model']}",
        "api_base": _root(live_server),
        "api_key": "sk-ant-test",
        "messages": CLAUDE["messages"],
        "num_retries": 0,
        "max_tokens": 300,
        "extra_headers": SEEDED,
    }
    reply = litellm.completion(**ask)
    text = assert_text_reply(reply.choices[0].message.content)
    assert reply.choices[0].finish_reason == "stop" and reply.usage.completion_tokens > 0
    chunks = list(litellm.completion(**ask, stream=True))
    rebuilt = litellm.stream_chunk_builder(chunks, messages=CLAUDE["messages"])
    assert rebuilt.choices[0].message.content == text
    tools = [{"type": "function", "function": CASE["tool"]}]
    called = litellm.completion(**ask, tools=tools, tool_choice="required")
    call = called.choices[0].message.tool_calls[0]
    assert call.function.name == TOOL["name"]
    assert_tool_arguments(json.loads(call.function.arguments))
    with pytest.raises(litellm.BadRequestError, match="top_k"):
        litellm.completion(**ask, top_k=-1)


# ------------------------------------------------------------------ Node


@pytest.fixture(scope="module", params=["anthropic_node.mjs", "vercel_anthropic.mjs"])
def node_report(
    request: pytest.FixtureRequest,
    node_ready: Path,  # noqa: F811
    live_server: MockLLMServer,
) -> tuple[str, dict[str, Any]]:
    script: str = request.param
    done = subprocess.run(
        [_tool("node"), script, _root(live_server), json.dumps(CLAUDE)],
        cwd=node_ready,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, f"{script} failed:\n{done.stdout}\n{done.stderr}"
    report: dict[str, Any] = json.loads(done.stdout)
    for name, result in report.items():
        assert "unexpected" not in result, f"{script} {name}: {result['unexpected']}"
    return script, report


def test_node_clients_read_text_streams_and_tool_input(
    node_report: tuple[str, dict[str, Any]],
) -> None:
    script, report = node_report
    plain, stream, tool = report["plain"], report["stream"], report["tool"]
    assert_text_reply(plain["content"])
    assert stream["deltas"] > 1 and stream.get("error") is None
    assert_tool_arguments(tool["args"])
    assert tool["name"] == TOOL["name"]
    if script == "anthropic_node.mjs":
        assert plain["stop_reason"] == "end_turn" and plain["id"].startswith("msg_01")
        assert stream["content"] == plain["content"]  # one seed (the script's Prefer header)
        assert tool["stop_reason"] == "tool_use" and tool["id"].startswith("toolu_")
        assert report["count"]["input_tokens"] == plain["usage"]["input_tokens"]
    else:
        assert stream["content"] == plain["content"]
        assert plain["finish_reason"] == "stop" and tool["finish_reason"] == "tool-calls"
        assert tool["invalid"] is False  # the AI SDK validated the input against its schema


def test_node_clients_raise_their_error_classes(node_report: tuple[str, dict[str, Any]]) -> None:
    script, report = node_report
    error = report["error"]
    assert error["status"] == 400
    if script == "anthropic_node.mjs":
        assert error["raised"] == "BadRequestError" and error["type"] == "invalid_request_error"
        assert "temperature: Input should be less than or equal to 1" in error["message"]
        assert error["request_id"].startswith("req_")
    else:
        assert error["raised"] == "APICallError" and error["is_api_call_error"]
        assert error["message"] == "top_k: Input should be greater than or equal to 0"
