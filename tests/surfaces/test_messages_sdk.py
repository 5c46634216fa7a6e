"""The anthropic Python SDK (2.x, strict response models) against a real running mockllm:
create, stream, tool-use loops, thinking, count_tokens, errors as the SDK's exception
classes, prompt caching, models, headers and the scenarios, journal and plugin shared
with chat completions."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest

from mockllm import MockLLM, MockLLMServer, Settings

MODEL = "claude-sonnet-4-5"
WEATHER = {
    "name": "get_weather",
    "description": "The weather in a city",
    "input_schema": {
        "type": "object",
        "properties": {
            "city": {"type": "string"},
            "days": {"type": "integer", "minimum": 1, "maximum": 7},
        },
        "required": ["city", "days"],
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
HELLO = [{"role": "user", "content": "Hello there"}]

# One scenario file for every surface: chat completions and Messages read it the same way.
SHARED = """
scenarios:
  - name: weather-answer
    when: {tool_result: {name: get_weather}}
    reply: {content: "It is sunny in Paris."}
  - name: weather-call
    when:
      tools: get_weather
      last_user_message: {regex: "weather in (?P<city>\\\\w+)"}
    reply:
      tool_calls: [{name: get_weather, arguments: {city: "{{ city }}", days: 2}}]
  - name: capital
    when: {last_user_message: {contains: capital of France}}
    reply: {content: "Paris is the capital of France."}
  - name: overloaded
    when: {last_user_message: {contains: overload}}
    reply: {error: {status: 529, message: Overloaded}}
  - name: slow-down
    when: {last_user_message: {contains: slow down}}
    reply: {error: {status: 429, message: "Rate limited", headers: {retry-after: "7"}}}
  - name: breaks-midway
    when: {last_user_message: {contains: break midway}}
    reply:
      content: "one two three four five six"
      fault: {kind: stream_error, after_chunks: 3, type: overloaded_error, message: Overloaded}
  - name: cut-here
    when: {last_user_message: {contains: cut short}}
    reply: {content: "Alpha beta. STOP Gamma delta."}
  - name: only-messages
    when: {surface: messages, last_user_message: {contains: which api}}
    reply: {content: "Messages"}
  - name: think-redacted
    when: {last_user_message: {contains: secret thoughts}}
    reply: {reasoning: true, redacted_thinking: true, content: "Done."}
"""


def blocks(message: Any) -> list[dict[str, Any]]:
    """A message's content as plain dicts (a stream's final message has parsed blocks)."""
    return [{k: v for k, v in b.to_dict().items() if k != "parsed_output"} for b in message.content]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MockLLMServer]:
    folder = tmp_path_factory.mktemp("scenarios")
    (folder / "shared.yaml").write_text(SHARED)
    with MockLLMServer(Settings(port=0, seed=11, scenario_paths=(folder,))) as running:
        yield running


@pytest.fixture()
def root(server: MockLLMServer) -> str:
    """The base URL the anthropic SDKs take: the server's root, without /v1."""
    return server.base_url.removesuffix("/v1")


@pytest.fixture()
def client(root: str) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=root, api_key="sk-ant-test", max_retries=0)


def test_create_gives_a_message_the_sdk_reads(client: anthropic.Anthropic) -> None:
    message = client.messages.create(model=MODEL, max_tokens=300, messages=HELLO)
    assert message.type == "message" and message.role == "assistant"
    assert message.id.startswith("msg_01") and message.model.startswith(MODEL)  # a snapshot
    assert message.stop_reason == "end_turn" and message.content[0].type == "text"
    assert len(message.content[0].text.split()) > 5
    assert message.usage.input_tokens > 0 and message.usage.output_tokens > 0
    assert message._request_id and message._request_id.startswith("req_")
    again = client.messages.create(model=MODEL, max_tokens=300, messages=HELLO)
    assert blocks(again) == blocks(message)  # the server's seed: the same reply


def test_a_stream_accumulates_to_the_same_message(client: anthropic.Anthropic) -> None:
    plain = client.messages.create(model=MODEL, max_tokens=300, messages=HELLO)
    with client.messages.stream(model=MODEL, max_tokens=300, messages=HELLO) as stream:
        pieces = list(stream.text_stream)
        final = stream.get_final_message()
    assert len(pieces) > 5 and "".join(pieces) == plain.content[0].text
    assert blocks(final) == blocks(plain) and final.usage == plain.usage
    assert final.stop_reason == "end_turn"


def test_the_raw_stream_is_named_events_ending_without_done(root: str) -> None:
    request = urllib.request.Request(
        f"{root}/v1/messages",
        method="POST",
        data=json.dumps(
            {"model": MODEL, "max_tokens": 50, "stream": True, "messages": HELLO}
        ).encode(),
        headers={
            "x-api-key": "k",
            "content-type": "application/json",
            "anthropic-version": "2023-06-01",
        },
    )
    with urllib.request.urlopen(request) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["request-id"].startswith("req_")
        text = response.read().decode()
    names = [
        line.removeprefix("event: ") for line in text.splitlines() if line.startswith("event: ")
    ]
    assert names[:3] == ["message_start", "content_block_start", "ping"]
    assert names[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    assert "[DONE]" not in text and "\r" not in text


def test_a_tool_use_loop_runs_on_the_same_scenarios_as_chat(
    client: anthropic.Anthropic, server: MockLLMServer
) -> None:
    ask = [{"role": "user", "content": "What is the weather in Paris?"}]
    first = client.messages.create(model=MODEL, max_tokens=300, tools=[WEATHER], messages=ask)
    assert first.stop_reason == "tool_use"
    (use,) = [b for b in first.content if b.type == "tool_use"]
    assert use.id.startswith("toolu_01") and use.input == {"city": "Paris", "days": 2}
    ask += [
        {"role": "assistant", "content": first.content},
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "sunny"}],
        },
    ]
    second = client.messages.create(model=MODEL, max_tokens=300, tools=[WEATHER], messages=ask)
    assert second.content[0].text == "It is sunny in Paris."
    chat = openai.OpenAI(base_url=server.base_url, api_key="sk", max_retries=0)
    reply = chat.chat.completions.create(
        model="gpt-4o",
        messages=[{"role": "user", "content": "What is the weather in Paris?"}],
        tools=[
            {
                "type": "function",
                "function": {"name": "get_weather", "parameters": WEATHER["input_schema"]},
            }
        ],
    )
    call = reply.choices[0].message.tool_calls[0]
    assert json.loads(call.function.arguments) == use.input


def test_generated_tool_input_fits_the_schema_and_parallel_can_be_turned_off(
    client: anthropic.Anthropic,
) -> None:
    forced = client.messages.create(
        model=MODEL,
        max_tokens=400,
        tools=[WEATHER, TIME],
        tool_choice={"type": "tool", "name": "get_time"},
        messages=HELLO,
    )
    uses = [b for b in forced.content if b.type == "tool_use"]
    assert [u.name for u in uses] == ["get_time"] and uses[0].input["zone"] in ("UTC", "CET")
    anyone = client.messages.create(
        model=MODEL, max_tokens=400, tools=[WEATHER], tool_choice={"type": "any"}, messages=HELLO
    )
    use = next(b for b in anyone.content if b.type == "tool_use")
    assert isinstance(use.input["city"], str) and 1 <= use.input["days"] <= 7
    none = client.messages.create(
        model=MODEL, max_tokens=400, tools=[WEATHER], tool_choice={"type": "none"}, messages=HELLO
    )
    assert none.stop_reason == "end_turn" and none.content[0].type == "text"


def test_a_streamed_tool_use_is_parsed_by_the_sdk(client: anthropic.Anthropic) -> None:
    with client.messages.stream(
        model=MODEL,
        max_tokens=300,
        tools=[WEATHER],
        messages=[{"role": "user", "content": "What is the weather in Rome?"}],
    ) as s:
        final = s.get_final_message()
    use = next(b for b in final.content if b.type == "tool_use")
    assert use.input == {"city": "Rome", "days": 2} and final.stop_reason == "tool_use"


def test_thinking_blocks_with_signatures_streamed_and_not(client: anthropic.Anthropic) -> None:
    ask: dict[str, Any] = {
        "model": MODEL,
        "max_tokens": 4000,
        "messages": HELLO,
        "thinking": {"type": "enabled", "budget_tokens": 2048},
    }
    message = client.messages.create(**ask)
    thinking, text = message.content
    assert thinking.type == "thinking" and thinking.thinking and thinking.signature
    assert text.type == "text"
    with client.messages.stream(**ask) as stream:
        final = stream.get_final_message()
    assert blocks(final) == blocks(message)
    redacted = client.messages.create(
        **{**ask, "messages": [{"role": "user", "content": "Share your secret thoughts"}]}
    )
    assert redacted.content[0].type == "redacted_thinking" and redacted.content[0].data
    with pytest.raises(anthropic.BadRequestError, match="max_tokens"):
        client.messages.create(**{**ask, "max_tokens": 1024})


def test_stop_sequences_and_max_tokens_stop_as_the_api_says(client: anthropic.Anthropic) -> None:
    ask = [{"role": "user", "content": "cut short please"}]
    stopped = client.messages.create(
        model=MODEL, max_tokens=300, messages=ask, stop_sequences=["STOP"]
    )
    assert stopped.content[0].text == "Alpha beta. "
    assert (stopped.stop_reason, stopped.stop_sequence) == ("stop_sequence", "STOP")
    cut = client.messages.create(model=MODEL, max_tokens=2, messages=ask)
    assert cut.stop_reason == "max_tokens" and cut.usage.output_tokens == 2


def test_count_tokens_matches_the_usage_of_the_same_body(client: anthropic.Anthropic) -> None:
    system = "You answer questions about the weather. " * 3
    counted = client.messages.count_tokens(
        model=MODEL, system=system, tools=[WEATHER], messages=HELLO
    )
    made = client.messages.create(
        model=MODEL, max_tokens=100, system=system, tools=[WEATHER], messages=HELLO
    )
    usage = made.usage
    assert counted.input_tokens == usage.input_tokens + usage.cache_read_input_tokens + (
        usage.cache_creation_input_tokens
    )
    assert (
        counted.input_tokens
        > client.messages.count_tokens(model=MODEL, messages=HELLO).input_tokens
    )


def test_a_repeated_cached_prefix_is_read_from_the_cache(client: anthropic.Anthropic) -> None:
    system = [
        {"type": "text", "text": "Reference manual. " * 600, "cache_control": {"type": "ephemeral"}}
    ]
    ask = [{"role": "user", "content": "A question about caching"}]
    first = client.messages.create(model=MODEL, max_tokens=50, system=system, messages=ask)
    second = client.messages.create(model=MODEL, max_tokens=50, system=system, messages=ask)
    written = first.usage.cache_creation_input_tokens
    assert written > 1000 and first.usage.cache_read_input_tokens == 0
    assert first.usage.cache_creation.ephemeral_5m_input_tokens == written
    assert second.usage.cache_read_input_tokens == written
    assert second.usage.cache_creation_input_tokens == 0
    assert second.usage.input_tokens == first.usage.input_tokens
    counted = client.messages.count_tokens(model=MODEL, system=system, messages=ask)
    assert counted.input_tokens == second.usage.input_tokens + written


def test_errors_are_the_sdks_exception_classes(client: anthropic.Anthropic, root: str) -> None:
    with pytest.raises(anthropic.BadRequestError) as bad:
        client.messages.create(
            model=MODEL,
            max_tokens=10,
            extra_body={"top_k": -1},
            messages=[{"role": "user", "content": [{"type": "text"}]}],
        )
    assert bad.value.status_code == 400
    assert bad.value.body == {
        "type": "error",
        "error": {
            "type": "invalid_request_error",
            "message": "messages.0.content.0.text: Field required; "
            "top_k: Input should be greater than or equal to 0",
        },
        "request_id": bad.value.request_id,
    }
    with pytest.raises(anthropic.OverloadedError) as overloaded:
        client.messages.create(
            model=MODEL, max_tokens=10, messages=[{"role": "user", "content": "overload it"}]
        )
    assert overloaded.value.status_code == 529
    with pytest.raises(anthropic.RateLimitError) as limited:
        client.messages.create(
            model=MODEL, max_tokens=10, messages=[{"role": "user", "content": "slow down"}]
        )
    assert limited.value.response.headers["retry-after"] == "7"
    keyless = urllib.request.Request(  # the SDKs refuse to send without a key
        f"{root}/v1/messages",
        method="POST",
        headers={"content-type": "application/json"},
        data=json.dumps({"model": MODEL, "max_tokens": 5, "messages": HELLO}).encode(),
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(keyless)
    assert refused.value.code == 401
    assert json.load(refused.value)["error"] == {
        "type": "authentication_error",
        "message": "x-api-key header is required",
    }


def test_a_stream_that_breaks_midway_ends_with_the_apis_error_event(
    client: anthropic.Anthropic,
) -> None:
    with pytest.raises(anthropic.APIStatusError) as broken:
        with client.messages.stream(
            model=MODEL, max_tokens=100, messages=[{"role": "user", "content": "break midway"}]
        ) as stream:
            for _ in stream:
                pass
    assert broken.value.status_code == 200  # the stream had started
    assert broken.value.body["error"]["type"] == "overloaded_error"


def test_bearer_auth_versions_and_the_beta_path(root: str) -> None:
    bearer = anthropic.Anthropic(base_url=root, auth_token="sk-ant-oat-x", max_retries=0)
    assert bearer.messages.create(model=MODEL, max_tokens=20, messages=HELLO).content
    beta = bearer.beta.messages.create(
        model=MODEL,
        max_tokens=20,
        messages=HELLO,
        betas=["context-management-2025-06-27"],
        context_management={"edits": []},
    )
    assert beta.content[0].type == "text"
    old = anthropic.Anthropic(
        base_url=root,
        api_key="k",
        max_retries=0,
        default_headers={"anthropic-version": "2023-06-01"},
    )
    assert old.messages.create(
        model=MODEL, max_tokens=20, messages=HELLO, extra_body={"temperature": 0.2}
    ).content
    with pytest.raises(anthropic.BadRequestError, match="temperature: Extra inputs"):
        old.with_options(default_headers={"anthropic-version": "2026-10-21"}).messages.create(
            model=MODEL, max_tokens=20, messages=HELLO, extra_body={"temperature": 1}
        )
    with pytest.raises(anthropic.BadRequestError, match="is not a valid version"):
        old.with_options(default_headers={"anthropic-version": "1999-01-01"}).messages.create(
            model=MODEL, max_tokens=20, messages=HELLO
        )


def test_models_answer_in_anthropics_shape(client: anthropic.Anthropic) -> None:
    listed = client.models.list()
    ids = [m.id for m in listed.data]
    assert ids and all(i.startswith("claude") for i in ids)
    assert listed.data[0].type == "model" and listed.data[0].display_name.startswith("Claude")
    assert client.models.retrieve(ids[0]).id == ids[0]


@pytest.mark.parametrize("path", ["/v1/messages", "/messages", "/v1/v1/messages"])
def test_every_client_base_url_reaches_the_surface(root: str, path: str) -> None:
    request = urllib.request.Request(
        root + path,
        method="POST",
        data=json.dumps(
            {
                "model": MODEL,
                "max_tokens": 20,
                "messages": [{"role": "user", "content": "which api is this?"}],
            }
        ).encode(),
        headers={"x-api-key": "k", "content-type": "application/json"},
    )
    with urllib.request.urlopen(request) as response:
        assert json.load(response)["content"][0]["text"] == "Messages"


def test_claude_codes_probes_get_a_200(root: str) -> None:
    for method, path in (
        ("HEAD", "/"),
        ("HEAD", "/api/hello"),
        ("POST", "/api/event_logging/batch"),
    ):
        request = urllib.request.Request(
            root + path,
            method=method,
            data=(b'{"events": []}' if method == "POST" else None),
            headers={"content-type": "application/json"},
        )
        with urllib.request.urlopen(request) as response:
            assert response.status == 200


def test_a_scenario_for_one_surface_only_and_the_journal_sees_the_surface(
    client: anthropic.Anthropic, server: MockLLMServer
) -> None:
    handle = MockLLM(server.url, server.state, server.call)
    handle.reset()
    assert (
        client.messages.create(
            model=MODEL, max_tokens=20, messages=[{"role": "user", "content": "which api is it"}]
        )
        .content[0]
        .text
        == "Messages"
    )
    chat = openai.OpenAI(base_url=server.base_url, api_key="sk", max_retries=0)
    answer = (
        chat.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "which api is it"}]
        )
        .choices[0]
        .message.content
    )
    assert answer != "Messages"
    handle.assert_called(surface="messages", scenario="only-messages")
    assert [e.surface for e in handle.requests] == ["messages", "chat"]


def test_claude_code_in_print_mode_answers_from_a_scenario(
    server: MockLLMServer, root: str, tmp_path: Path
) -> None:
    import os
    import shutil
    import subprocess

    claude = os.environ.get("MOCKLLM_CLAUDE_CODE") or shutil.which("claude")
    if claude is None:
        pytest.skip(
            "Claude Code is not installed (npm i @anthropic-ai/claude-code, or set "
            "MOCKLLM_CLAUDE_CODE to its binary)"
        )
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "ANTHROPIC_BASE_URL": root,
        "ANTHROPIC_API_KEY": "sk-ant-test",
        "DISABLE_TELEMETRY": "1",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    }
    done = subprocess.run(
        [claude, "-p", "What is the capital of France?"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "Paris is the capital of France."
