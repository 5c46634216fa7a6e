"""The API's 2025-26 wire details (issue 22, items 2 and 3): the headers on every answer
and the content types, through the openai SDK with strict response validation,
streamed and not, on successes and errors."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from mockllm.config import Settings
from mockllm.http.apiheaders import GENEROUS_LIMITS
from mockllm.http.app import AppParts
from mockllm.server import MockLLMServer

ASK = [{"role": "user", "content": "Say hello."}]
# The defaults themselves (apiheaders.GENEROUS_LIMITS); two of them are checked by value.
GENEROUS = dict(GENEROUS_LIMITS)


def _client(server: MockLLMServer) -> openai.OpenAI:
    return openai.OpenAI(
        base_url=server.base_url, api_key="sk-test", max_retries=0, _strict_response_validation=True
    )


@pytest.fixture(scope="module")
def limited(mockllm_parts: AppParts) -> Iterator[MockLLMServer]:
    with MockLLMServer(Settings(port=0, rate_limit_rpm=100), parts=mockllm_parts) as server:
        yield server


def _api_headers(headers: Any) -> None:
    assert headers["openai-version"] == "2020-10-01"
    assert re.fullmatch(r"\d+", headers["openai-processing-ms"])
    assert re.fullmatch(r"req_[0-9a-f]{32}", headers["x-request-id"])
    assert headers["access-control-expose-headers"] == "X-Request-ID"


@pytest.mark.parametrize("stream", [False, True])
def test_a_reply_carries_the_api_headers(live_server: MockLLMServer, stream: bool) -> None:
    raw = _client(live_server).chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=ASK, stream=stream
    )
    _api_headers(raw.headers)
    for name, value in GENEROUS.items():
        assert raw.headers[name] == value
    assert raw.headers["x-ratelimit-limit-tokens"] == "150000000"
    assert raw.headers["x-ratelimit-reset-requests"] == "2ms"
    parsed: Any = raw.parse()
    if stream:
        assert list(parsed)
    else:
        assert raw.headers["content-type"] == "application/json"
        assert parsed.choices[0].message.content


@pytest.mark.parametrize("stream", [False, True])
def test_an_error_carries_the_api_headers_and_its_charset(
    live_server: MockLLMServer, stream: bool
) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        _client(live_server).chat.completions.create(
            model="gpt-4o-mini", messages=[], stream=stream
        )
    headers = info.value.response.headers
    _api_headers(headers)
    assert headers["content-type"] == "application/json; charset=utf-8"
    assert headers["x-ratelimit-limit-requests"] == "30000"
    assert info.value.request_id == headers["x-request-id"]


def test_the_models_list_carries_the_api_headers(live_server: MockLLMServer) -> None:
    raw = _client(live_server).models.with_raw_response.list()
    _api_headers(raw.headers)


def test_a_configured_rate_limit_sends_its_real_counts(limited: MockLLMServer) -> None:
    client = _client(limited)
    first = client.chat.completions.with_raw_response.create(model="gpt-4o", messages=ASK)
    second = client.chat.completions.with_raw_response.create(model="gpt-4o", messages=ASK)
    assert first.headers["x-ratelimit-limit-requests"] == "100"
    assert int(second.headers["x-ratelimit-remaining-requests"]) < int(
        first.headers["x-ratelimit-remaining-requests"]
    )
    assert "x-ratelimit-limit-tokens" not in first.headers  # no token budget configured
    _api_headers(second.headers)


# ------------------------------------------------------------------ streams


def _stream(server: MockLLMServer, **body: Any) -> tuple[Any, bytes, list[dict[str, Any]]]:
    request = urllib.request.Request(
        server.base_url + "/chat/completions",
        headers={"Content-Type": "application/json"},
        data=json.dumps({"messages": ASK, "stream": True, **body}).encode(),
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        raw = response.read()
        headers = response.headers
    chunks = [
        json.loads(event[6:]) for event in raw.decode().split("\n\n") if event.startswith("data: {")
    ]
    return headers, raw, chunks


KEYS = ["id", "object", "created", "model", "service_tier", "system_fingerprint", "choices"]


@pytest.mark.parametrize("usage", [False, True])
def test_every_chunk_has_the_api_keys_in_order_and_an_obfuscation_filler(
    live_server: MockLLMServer, usage: bool
) -> None:
    headers, raw, chunks = _stream(
        live_server, model="gpt-4o-mini", seed=3, stream_options={"include_usage": usage}
    )
    assert headers["content-type"] == "text/event-stream; charset=utf-8"
    expected = KEYS + (["usage"] if usage else []) + ["obfuscation"]
    for chunk in chunks:
        assert list(chunk) == expected, chunk
        assert re.fullmatch(r"[A-Za-z0-9]{1,15}", chunk["obfuscation"])
    assert len({chunk["obfuscation"] for chunk in chunks}) > 1
    # The fillers follow the seed: the same request gives the same bytes.
    assert (
        _stream(live_server, model="gpt-4o-mini", seed=3, stream_options={"include_usage": usage})[
            1
        ]
        == raw
    )


def test_include_obfuscation_false_leaves_the_filler_out(live_server: MockLLMServer) -> None:
    _, _, chunks = _stream(
        live_server, model="gpt-4o-mini", stream_options={"include_obfuscation": False}
    )
    assert chunks and all(list(chunk) == KEYS for chunk in chunks)


def test_the_sdk_reads_obfuscated_chunks_strictly(live_server: MockLLMServer) -> None:
    chunks = list(
        _client(live_server).chat.completions.create(model="gpt-4o-mini", messages=ASK, stream=True)
    )
    assert all(chunk.obfuscation for chunk in chunks)


def test_a_null_fingerprint_is_sent_in_every_chunk(live_server: MockLLMServer) -> None:
    _, _, chunks = _stream(live_server, model="gpt-5")
    assert all("system_fingerprint" in c and c["system_fingerprint"] is None for c in chunks)


def test_the_first_delta_of_a_text_reply(live_server: MockLLMServer) -> None:
    _, _, chunks = _stream(live_server, model="gpt-4o-mini")
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": "", "refusal": None}
    assert all("role" not in c["choices"][0]["delta"] for c in chunks[1:])


@pytest.mark.parametrize("stream", [False, True])
def test_the_first_delta_of_a_tool_call_holds_the_call_header(
    live_server: MockLLMServer, stream: bool
) -> None:
    tool = {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
    if not stream:  # and the SDK accumulates such a stream strictly
        with _client(live_server).chat.completions.stream(
            model="gpt-4o-mini", messages=ASK, tools=[tool], tool_choice="required"
        ) as events:
            final = events.get_final_completion()
        [call] = final.choices[0].message.tool_calls or []
        assert call.function.name == "get_weather"
        return
    _, _, chunks = _stream(live_server, model="gpt-4o-mini", tools=[tool], tool_choice="required")
    first = chunks[0]["choices"][0]["delta"]
    call_id = first["tool_calls"][0]["id"]
    assert first == {
        "role": "assistant",
        "content": None,
        "refusal": None,
        "tool_calls": [
            {
                "index": 0,
                "id": call_id,
                "type": "function",
                "function": {"name": "get_weather", "arguments": ""},
            }
        ],
    }
    assert call_id.startswith("call_")


# ------------------------------------------------------------------ API keys


@pytest.fixture(scope="module")
def keyed(mockllm_parts: AppParts) -> Iterator[MockLLMServer]:
    settings = Settings(port=0, api_keys=("sk-good-key-1234", "sk-other"))
    with MockLLMServer(settings, parts=mockllm_parts) as server:
        yield server


@pytest.mark.parametrize("stream", [False, True])
def test_configured_api_keys_refuse_a_wrong_key(keyed: MockLLMServer, stream: bool) -> None:
    wrong = openai.OpenAI(
        base_url=keyed.base_url,
        api_key="sk-wrong-key-98765",
        max_retries=0,
        _strict_response_validation=True,
    )
    with pytest.raises(openai.AuthenticationError) as info:
        wrong.chat.completions.create(model="gpt-4o-mini", messages=ASK, stream=stream)
    error = info.value.body
    assert isinstance(error, dict) and error["code"] == "invalid_api_key"
    assert error["type"] == "invalid_request_error"
    assert error["message"] == (
        "Incorrect API key provided: sk-***********8765. You can find "
        "your API key at https://platform.openai.com/account/api-keys."
    )
    _api_headers(info.value.response.headers)
    with pytest.raises(openai.AuthenticationError):
        wrong.models.list()
    right = openai.OpenAI(
        base_url=keyed.base_url,
        api_key="sk-good-key-1234",
        max_retries=0,
        _strict_response_validation=True,
    )
    assert right.chat.completions.create(model="gpt-4o-mini", messages=ASK).choices
    assert "sk-good-key-1234" not in repr(keyed.settings)


def test_a_missing_key_is_refused_and_the_journal_keeps_no_key(keyed: MockLLMServer) -> None:
    request = urllib.request.Request(
        keyed.base_url + "/chat/completions",
        headers={"Content-Type": "application/json"},
        data=json.dumps({"model": "gpt-4o-mini", "messages": ASK}).encode(),
    )
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(request, timeout=10)
    assert info.value.code == 401
    body = json.loads(info.value.read())
    assert body["error"]["message"].startswith("You didn't provide an API key.")
