"""LangChain's ``ChatOpenAI`` (langchain-openai) against a real running mockllm.

LangChain accumulates a stream by adding its message chunks, parses tool-call
arguments into ``AIMessage.tool_calls``, and raises its own subclass of the openai
SDK's ``BadRequestError`` for a 400.
"""

from __future__ import annotations

from typing import Any

import openai
import pytest
from client_checks import CASE, assert_names_temperature, assert_text_reply, assert_tool_arguments
from langchain_core.exceptions import ModelInvalidRequestError
from langchain_core.messages import AIMessage, AIMessageChunk
from langchain_openai import ChatOpenAI

from mockllm.server import MockLLMServer

TOOL: dict[str, Any] = {"type": "function", "function": CASE["tool"]}


@pytest.fixture()
def chat(live_server: MockLLMServer) -> ChatOpenAI:
    """ChatOpenAI on the live server, seeded, without retries."""
    return ChatOpenAI(
        model=CASE["model"],
        base_url=live_server.base_url,
        api_key="sk-test",
        seed=CASE["seed"],
        max_retries=0,
    )


def _accumulate(chunks: Any) -> AIMessageChunk:
    """Add the streamed chunks up, as LangChain's own callers do."""
    total: AIMessageChunk | None = None
    for chunk in chunks:
        total = chunk if total is None else total + chunk
    assert total is not None, "the stream yielded nothing"
    return total


def test_plain_completion(chat: ChatOpenAI) -> None:
    reply = chat.invoke(CASE["messages"])
    assert isinstance(reply, AIMessage)
    assert_text_reply(reply.content)
    assert reply.response_metadata["finish_reason"] == "stop"
    usage = reply.usage_metadata
    assert usage is not None
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"] > 0


def test_stream_accumulates_to_the_plain_reply(chat: ChatOpenAI) -> None:
    plain = chat.invoke(CASE["messages"])
    streamed = chat.model_copy(update={"stream_usage": True})
    chunks = list(streamed.stream(CASE["messages"]))
    assert len(chunks) > 2  # really streamed, not one blob
    total = _accumulate(chunks)
    assert total.content == plain.content
    assert total.response_metadata["finish_reason"] == "stop"
    assert total.usage_metadata is not None and plain.usage_metadata is not None
    assert total.usage_metadata["output_tokens"] == plain.usage_metadata["output_tokens"]


@pytest.mark.parametrize("streamed", [False, True], ids=["plain", "stream"])
def test_tool_call_arguments_are_parsed(chat: ChatOpenAI, streamed: bool) -> None:
    model = chat.bind_tools([TOOL], tool_choice="required")
    reply = (
        _accumulate(model.stream(CASE["messages"])) if streamed else model.invoke(CASE["messages"])
    )
    assert reply.invalid_tool_calls == []
    [call] = reply.tool_calls
    assert call["name"] == CASE["tool"]["name"]
    assert call["id"] and call["id"].startswith("call_")
    assert_tool_arguments(call["args"])


def test_bad_request_is_the_client_error_naming_the_field(chat: ChatOpenAI) -> None:
    hot = chat.model_copy(update={"temperature": 3})
    with pytest.raises(ModelInvalidRequestError) as info:
        hot.invoke(CASE["messages"])
    err = info.value
    assert isinstance(err, openai.BadRequestError)
    assert err.status_code == 400
    assert err.param == "temperature"
    assert_names_temperature(err.message)


# ------------------------------------------------- the Responses API (/v1/responses)


@pytest.fixture()
def responses_chat(live_server: MockLLMServer) -> ChatOpenAI:
    """ChatOpenAI speaking the Responses API to the live server."""
    return ChatOpenAI(
        model=CASE["model"],
        base_url=live_server.base_url,
        api_key="sk-test",
        max_retries=0,
        use_responses_api=True,
    )


def test_responses_api_plain_stream_and_tool(responses_chat: ChatOpenAI) -> None:
    reply = responses_chat.invoke(CASE["messages"])
    assert isinstance(reply, AIMessage)
    assert_text_reply(reply.text)
    assert reply.response_metadata["id"].startswith("resp_")
    usage = reply.usage_metadata
    assert usage is not None
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"] > 0
    streamed = _accumulate(responses_chat.stream(CASE["messages"]))
    assert_text_reply(streamed.text)
    model = responses_chat.bind_tools([TOOL], tool_choice="required")
    called = model.invoke(CASE["messages"])
    [call] = called.tool_calls
    assert call["name"] == CASE["tool"]["name"]
    assert call["id"] is not None and call["id"].startswith("call_")
    assert_tool_arguments(call["args"])


def test_responses_api_bad_request_names_the_field(responses_chat: ChatOpenAI) -> None:
    hot = responses_chat.model_copy(update={"temperature": 3})
    with pytest.raises(openai.BadRequestError) as info:
        hot.invoke(CASE["messages"])
    assert info.value.param == "temperature"
