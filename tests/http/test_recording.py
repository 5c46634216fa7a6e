"""Record a real upstream into scenario files, and replay them (docs/recording.md).

Two upstreams on loopback: a second mockllm with its own scenarios, and ``StandIn``, a
stdlib server that writes OpenAI's exact wire format (interleaved ``n=2`` chunks,
parallel tool-call deltas, a paced stream, a 429 with retry headers). Each exchange goes
client -> recording mockllm -> upstream; then a replaying mockllm answers from the files
alone, and the openai SDK must see the same replies.
"""

from __future__ import annotations

import functools
import json
import threading
import time
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import openai
import pytest
import yaml

from mockllm import AppParts, MockLLMServer, Settings
from mockllm.cli import main
from mockllm.config import RecordMode
from mockllm.conform.sse import analyse

pytest_plugins = ["pytester"]

KEY = "sk-upstream-SECRET-0123456789abcdef"
CLIENT_KEY = "sk-client-SECRET-fedcba9876543210"
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": name,
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
    for name in ("get_weather", "get_time")
]
TTFT_S = 0.3
GAP_S = 0.03


# --------------------------------------------------------------------------- the stand-in


def _envelope(include_usage: bool) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": "chatcmpl-standin1",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": "gpt-4o-mini-2024-07-18",
        "system_fingerprint": "fp_standin",
        "service_tier": "default",
    }
    if include_usage:
        base["usage"] = None
    return base


def _part(index: int, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {"index": index, "delta": delta, "logprobs": None, "finish_reason": finish}


USAGE = {
    "prompt_tokens": 21,
    "completion_tokens": 17,
    "total_tokens": 38,
    "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
    "completion_tokens_details": {
        "reasoning_tokens": 0,
        "audio_tokens": 0,
        "accepted_prediction_tokens": 0,
        "rejected_prediction_tokens": 0,
    },
}
TEXTS = ["Paris is sunny and 21 degrees today.", "In Paris: sun, 21 C."]
CALLS = [
    ("call_w1", "get_weather", ['{"ci', 'ty": "Pa', 'ris"}']),
    ("call_t2", "get_time", ['{"city"', ': "Paris"}']),
]


def standin_chunks(request: dict[str, Any]) -> list[dict[str, Any]]:
    """OpenAI's stream for the request: tool calls when tools are offered (two, in
    parallel), else the texts (one per choice, interleaved for n=2)."""
    include_usage = bool((request.get("stream_options") or {}).get("include_usage"))
    env = _envelope(include_usage)
    parts: list[dict[str, Any]] = []
    if request.get("tools"):
        first = True
        for position, (call_id, name, pieces) in enumerate(CALLS):
            opening: dict[str, Any] = {
                "tool_calls": [
                    {
                        "index": position,
                        "id": call_id,
                        "type": "function",
                        "function": {"name": name, "arguments": ""},
                    }
                ]
            }
            if first:
                opening = {"role": "assistant", "content": None, **opening}
                first = False
            parts.append(_part(0, opening))
            parts.extend(
                _part(0, {"tool_calls": [{"index": position, "function": {"arguments": p}}]})
                for p in pieces
            )
        parts.append(_part(0, {}, "tool_calls"))
    else:
        n = int(request.get("n") or 1)
        words = [TEXTS[i].split(" ") for i in range(n)]
        for i in range(n):
            parts.append(_part(i, {"role": "assistant", "content": "", "refusal": None}))
        for step in range(max(len(w) for w in words)):
            for i in range(n):
                if step < len(words[i]):
                    piece = words[i][step] + (" " if step < len(words[i]) - 1 else "")
                    parts.append(_part(i, {"content": piece}))
        parts.extend(_part(i, {}, "stop") for i in range(n))
    chunks = [{**env, "choices": [p]} for p in parts]
    if include_usage:
        chunks.append({**env, "choices": [], "usage": USAGE})
    return chunks


def standin_completion(request: dict[str, Any]) -> dict[str, Any]:
    """The plain reply: what the stream accumulates to, with the usage."""
    body = analyse(
        standin_chunks({**request, "stream_options": {"include_usage": True}}), include_usage=True
    ).completion
    body.update(object="chat.completion", system_fingerprint="fp_standin", service_tier="default")
    for choice in body["choices"]:
        choice["message"].setdefault("refusal", None)
        choice["message"]["annotations"] = []
    return body


class StandIn(BaseHTTPRequestHandler):
    """A stdlib OpenAI: JSON, SSE (paced: TTFT_S, then GAP_S between chunks) and a 429."""

    protocol_version = "HTTP/1.0"  # a stream ends when the connection closes
    seen: list[dict[str, Any]] = []  # noqa: RUF012 - the requests, for the tests

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        StandIn.seen.append({"body": body, "authorization": self.headers.get("Authorization")})
        last = body["messages"][-1].get("content")
        if last == "rate limit me":
            error = {
                "error": {
                    "message": "Rate limit reached for gpt-4o-mini",
                    "type": "requests",
                    "param": None,
                    "code": "rate_limit_exceeded",
                }
            }
            self._send(
                429,
                json.dumps(error).encode(),
                {
                    "retry-after": "2",
                    "x-should-retry": "true",
                    "x-ratelimit-remaining-requests": "0",
                },
            )
            return
        if not body.get("stream"):
            self._send(200, json.dumps(standin_completion(body)).encode(), {})
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("x-request-id", "req_standin_stream")
        self.end_headers()
        time.sleep(TTFT_S)
        for number, chunk in enumerate(standin_chunks(body)):
            if number:
                time.sleep(GAP_S)
            self.wfile.write(b"data: " + json.dumps(chunk).encode() + b"\n\n")
            self.wfile.flush()
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()

    def _send(self, status: int, payload: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("x-request-id", "req_standin_plain")
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)


@pytest.fixture(scope="module")
def standin() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), StandIn)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


# --------------------------------------------------------------------------- helpers


@functools.cache
def _parts() -> AppParts:
    """One set of compiled schemas and tokenizer for every server of this module (each
    build costs a second of CPU that timing tests elsewhere would feel)."""
    return AppParts.build()


def server(settings: Settings) -> MockLLMServer:
    return MockLLMServer(settings, parts=_parts())


def recorder(
    upstream: str, out: Path, mode: RecordMode = RecordMode.ALL, **extra: Any
) -> MockLLMServer:
    settings = Settings(
        port=0, record=mode, upstream=upstream, record_dir=out, upstream_key=KEY, **extra
    )
    return server(settings)


def replayer(folder: Path) -> MockLLMServer:
    return server(Settings(port=0, scenario_paths=(folder,), strict=True))


def client(server: MockLLMServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key=CLIENT_KEY, max_retries=0)


def essentials(completion: dict[str, Any]) -> list[dict[str, Any]]:
    """What a replay must give back: per choice content, tool calls, finish_reason;
    and the usage."""
    out = []
    for choice in sorted(completion["choices"], key=lambda c: c["index"]):
        message = choice["message"]
        calls = [
            (c["id"], c["function"]["name"], c["function"]["arguments"])
            for c in message.get("tool_calls") or ()
        ]
        out.append(
            {"content": message.get("content"), "calls": calls, "finish": choice["finish_reason"]}
        )
    return [*out, {"usage": _counts(completion.get("usage"))}]


def _counts(usage: Any) -> Any:
    if not usage:
        return None
    return {k: usage[k] for k in ("prompt_tokens", "completion_tokens", "total_tokens")}


def plain(api: openai.OpenAI, **request: Any) -> dict[str, Any]:
    return api.chat.completions.create(**request).model_dump()


def streamed(api: openai.OpenAI, **request: Any) -> tuple[dict[str, Any], float, float]:
    """The accumulated stream, the time to its first chunk and its whole duration."""
    started = time.perf_counter()
    first = None
    chunks = []
    for chunk in api.chat.completions.create(stream=True, **request):
        if first is None:
            first = time.perf_counter() - started
        chunks.append(chunk.model_dump(exclude_unset=True))
    total = time.perf_counter() - started
    include = bool((request.get("stream_options") or {}).get("include_usage"))
    return analyse(chunks, include_usage=include).completion, first or total, total


def ask(text: str, **extra: Any) -> dict[str, Any]:
    return {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": text}], **extra}


def all_text(folder: Path) -> str:
    return "\n".join(p.read_text() for p in sorted(folder.rglob("*.yaml")))


# --------------------------------------------------------------------------- the stand-in


def test_the_standin_recording_replays_equal_plain_and_streamed(
    standin: str, tmp_path: Path
) -> None:
    requests = {
        "plain": ask("weather in Paris?"),
        "tools": ask("weather in Paris?", tools=TOOLS),
        "n2": ask("weather, twice", n=2, stream_options={"include_usage": True}),
        "tools_stream": ask(
            "weather in Paris?",
            tools=TOOLS,
            messages=[
                {"role": "system", "content": "Use tools."},
                {"role": "user", "content": "weather in Paris?"},
            ],
            stream_options={"include_usage": True},
        ),
    }
    with recorder(standin, tmp_path) as rec:
        api = client(rec)
        recorded = {
            "plain": essentials(plain(api, **requests["plain"])),
            "tools": essentials(plain(api, **requests["tools"])),
            "n2": essentials(streamed(api, **requests["n2"])[0]),
            "tools_stream": essentials(streamed(api, **requests["tools_stream"])[0]),
        }
        with pytest.raises(openai.RateLimitError) as limited:
            api.chat.completions.create(**ask("rate limit me"))
    assert limited.value.response.headers["retry-after"] == "2"
    # What the client got through the recorder is the stand-in's answer.
    assert recorded["n2"][0]["content"] == TEXTS[0] and recorded["n2"][1]["content"] == TEXTS[1]
    assert [c[1] for c in recorded["tools_stream"][0]["calls"]] == ["get_weather", "get_time"]
    assert recorded["tools_stream"][0]["calls"][0][2] == '{"city": "Paris"}'
    files = sorted(p.name for p in tmp_path.glob("*.yaml"))
    assert len(files) == 5, files  # the system prompt and the tools tell them apart

    with replayer(tmp_path) as rep:
        api = client(rep)
        assert essentials(plain(api, **requests["plain"])) == recorded["plain"]
        assert essentials(plain(api, **requests["tools"])) == recorded["tools"]
        assert essentials(streamed(api, **requests["n2"])[0]) == recorded["n2"]
        assert essentials(streamed(api, **requests["tools_stream"])[0]) == recorded["tools_stream"]
        with pytest.raises(openai.RateLimitError) as replayed:
            api.chat.completions.create(**ask("rate limit me"))
    assert replayed.value.response.headers["retry-after"] == "2"
    assert replayed.value.response.headers["x-should-retry"] == "true"
    assert replayed.value.code == "rate_limit_exceeded"
    assert "Rate limit reached for gpt-4o-mini" in str(replayed.value)


def test_a_stream_is_relayed_as_it_arrives_byte_for_byte(standin: str, tmp_path: Path) -> None:
    body = json.dumps(ask("weather in Paris?", stream=True)).encode()

    def fetch(url: str) -> tuple[bytes, float, float]:
        request = urllib.request.Request(
            f"{url}/chat/completions",
            data=body,
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {CLIENT_KEY}"},
        )
        started = time.perf_counter()
        with urllib.request.urlopen(request, timeout=10) as response:
            first = response.readline()
            first_at = time.perf_counter() - started
            rest = response.read()
        return first + rest, first_at, time.perf_counter() - started

    direct, _, _ = fetch(standin)
    with recorder(standin, tmp_path) as rec:
        relayed, first_at, total = fetch(f"{rec.url}/v1")
    assert relayed == direct
    # Not buffered: the first chunk arrives long before the stream ends.
    assert first_at < TTFT_S + 0.1 and first_at < total - 0.15, (first_at, total)


def test_replayed_stream_timing_is_within_ten_percent(standin: str, tmp_path: Path) -> None:
    request = ask("weather in Paris?", stream_options={"include_usage": True})
    with recorder(standin, tmp_path) as rec:
        api = client(rec)
        streamed(api, **ask("warm up"))  # first-call costs out of the way, as below
        _, ttft, total = streamed(api, **request)
    recorded = yaml.safe_load(next(tmp_path.glob("weather*.yaml")).read_text())
    assert abs(recorded["reply"]["timing"]["ttft_ms"] - TTFT_S * 1000) < 0.1 * TTFT_S * 1000
    with replayer(tmp_path) as rep:
        api = client(rep)
        streamed(api, **ask("warm up"))
        runs = sorted(streamed(api, **request)[1:] for _ in range(3))
    # The median of three replays: a shared machine can stall any one run.
    replay_ttft = sorted(r[0] for r in runs)[1]
    replay_total = sorted(r[1] for r in runs)[1]
    print(
        f"timing: recorded ttft {ttft * 1000:.0f} ms, total {total * 1000:.0f} ms; "
        f"replayed ttft {replay_ttft * 1000:.0f} ms, total {replay_total * 1000:.0f} ms"
    )
    assert abs(replay_ttft - ttft) <= 0.1 * ttft, (ttft, replay_ttft)
    assert abs(replay_total - total) <= 0.1 * total, (total, replay_total)


def test_no_recorded_file_holds_a_key(standin: str, tmp_path: Path) -> None:
    with recorder(standin, tmp_path, redact=(r"[\w.]+@example\.com",)) as rec:
        api = client(rec)
        plain(api, **ask(f"my key is {KEY}, mail bob@example.com"))
        streamed(api, **ask(f"and {CLIENT_KEY}"))
    # The upstream got the configured key, not the client's.
    assert StandIn.seen[-1]["authorization"] == f"Bearer {KEY}"
    text = all_text(tmp_path)
    assert text and KEY not in text and CLIENT_KEY not in text
    assert "SECRET" not in text and "bob@example.com" not in text
    assert "[REDACTED]" in text


# --------------------------------------------------------------------------- mockllm upstream

UPSTREAM_SCENARIOS = """\
scenarios:
  - name: weather-call
    when: {tools: get_weather, tool_result: {exists: false}}
    reply: {tool_calls: [{name: get_weather, arguments: {city: Oslo}}]}
  - name: weather-answer
    when: {tool_result: get_weather}
    reply: {content: "It is 3 degrees in Oslo."}
  - name: pirate
    when: {system_message: {contains: pirate}}
    reply: {content: "Arr, hello!"}
"""


@pytest.fixture()
def mockllm_upstream(tmp_path: Path) -> Iterator[MockLLMServer]:
    folder = tmp_path / "upstream"
    folder.mkdir()
    (folder / "scenarios.yaml").write_text(UPSTREAM_SCENARIOS)
    with server(Settings(port=0, seed=5, scenario_paths=(folder,))) as upstream:
        yield upstream


def _tool_loop(api: openai.OpenAI) -> list[list[dict[str, Any]]]:
    first = ask("Weather in Oslo?", tools=TOOLS)
    call = plain(api, **first)
    message = call["choices"][0]["message"]
    follow = {
        **first,
        "messages": [
            *first["messages"],
            {"role": "assistant", "content": None, "tool_calls": message["tool_calls"]},
            {"role": "tool", "tool_call_id": message["tool_calls"][0]["id"], "content": "3C"},
        ],
    }
    return [
        essentials(call),
        essentials(plain(api, **follow)),
        essentials(plain(api, **ask("hello"))),
        essentials(
            plain(
                api,
                **ask(
                    "hello",
                    messages=[
                        {"role": "system", "content": "You are a pirate."},
                        {"role": "user", "content": "hello"},
                    ],
                ),
            )
        ),
        essentials(
            streamed(
                api,
                **ask("hello", stream_options={"include_usage": True}),
            )[0]
        ),
    ]


def test_recording_another_mockllm_replays_equal_and_re_records_the_same_file(
    mockllm_upstream: MockLLMServer, tmp_path: Path
) -> None:
    out = tmp_path / "rec"
    with recorder(f"{mockllm_upstream.url}/v1", out) as rec:
        recorded = _tool_loop(client(rec))
    assert recorded[1][0]["content"] == "It is 3 degrees in Oslo."
    assert recorded[3][0]["content"] == "Arr, hello!"
    assert recorded[2][0]["content"] != recorded[3][0]["content"]
    first = {p.name: p.read_text() for p in out.glob("*.yaml")}
    # "hello" plain and streamed share their conditions: one scenario, a sequence.
    assert len(first) == 4
    with replayer(out) as rep:
        assert _tool_loop(client(rep)) == recorded
    # Recording the same exchanges again gives the same files (timing aside: the
    # upstream is not paced, so the stream's measured delays are tiny but not equal).
    with recorder(f"{mockllm_upstream.url}/v1", out) as rec:
        _tool_loop(client(rec))
    again = {p.name: p.read_text() for p in out.glob("*.yaml")}
    assert again.keys() == first.keys()
    unpaced = {name for name, text in first.items() if "timing:" in text}
    assert len(unpaced) == 1
    assert {k: v for k, v in again.items() if k not in unpaced} == {
        k: v for k, v in first.items() if k not in unpaced
    }


def test_serve_record_missing_forwards_only_misses_and_marks_the_journal(
    mockllm_upstream: MockLLMServer, tmp_path: Path
) -> None:
    folder = tmp_path / "scenarios"
    folder.mkdir()
    with recorder(
        f"{mockllm_upstream.url}/v1",
        tmp_path / "unused",
        RecordMode.MISSING,
        scenario_paths=(folder,),
        strict=True,
    ) as rec:
        api = client(rec)
        one = plain(api, **ask("hello"))
        two = plain(api, **ask("hello"))
        assert one["choices"][0]["message"] == two["choices"][0]["message"]
        with urllib.request.urlopen(f"{rec.url}/__mockllm/requests") as response:
            journal = json.loads(response.read())["requests"]
        with urllib.request.urlopen(f"{rec.url}/__mockllm/health") as response:
            health = json.loads(response.read())
    assert health["recording"] == {
        "mode": "missing",
        "upstream": f"{mockllm_upstream.url}/v1",
        "to": str(tmp_path / "unused"),
    }
    tags = [entry["tags"] for entry in reversed(journal)]  # oldest first
    assert tags[0]["forwarded"] == f"{mockllm_upstream.url}/v1"
    assert tags[0]["recorded"].endswith(".yaml")
    assert "forwarded" not in tags[1]  # the recording answered the second
    assert len(mockllm_upstream.call(mockllm_upstream.state.store.exchanges)) == 1


def test_serve_without_record_never_forwards(
    mockllm_upstream: MockLLMServer, tmp_path: Path
) -> None:
    with server(
        Settings(
            port=0, scenario_paths=(tmp_path,), strict=True, upstream=f"{mockllm_upstream.url}/v1"
        )
    ) as rep:
        with pytest.raises(openai.NotFoundError) as missed:
            plain(client(rep), **ask("hello"))
    assert "No scenario matched" in str(missed.value)


def test_record_command_needs_an_upstream(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["record", "--out", "x"]) == 2
    assert "--upstream" in capsys.readouterr().err


# --------------------------------------------------------------------------- pytest


INNER_TESTS = """
import openai


def ask(mockllm, text):
    api = openai.OpenAI(base_url=mockllm.base_url, api_key="{client_key}", max_retries=0)
    reply = api.chat.completions.create(model="gpt-4o-mini",
                                        messages=[{{"role": "user", "content": text}}])
    return reply.choices[0].message.content


def test_greeting(mockllm):
    assert ask(mockllm, "hello") == "Hello from upstream"


def test_farewell(mockllm):
    assert ask(mockllm, "bye") == "Goodbye from upstream"
"""


def test_pytest_records_per_test_and_replays_without_the_upstream(
    pytester: pytest.Pytester, tmp_path: Path
) -> None:
    scenarios = tmp_path / "up.yaml"
    scenarios.write_text(
        "scenarios:\n"
        "  - {name: hi, when: {last_user_message: hello},\n"
        "     reply: {content: Hello from upstream}}\n"
        "  - {name: bye, when: {last_user_message: bye},\n"
        "     reply: {content: Goodbye from upstream}}\n"
    )
    pytester.makepyfile(test_calls=INNER_TESTS.format(client_key=CLIENT_KEY))
    with server(Settings(port=0, scenario_paths=(scenarios,))) as upstream:
        pytester.makeini(
            "[pytest]\nasyncio_default_fixture_loop_scope = function\n"
            f"mockllm_upstream = {upstream.url}/v1\n"
        )
        first = pytester.runpytest_subprocess("--mockllm-record=missing")
        first.assert_outcomes(passed=2)
        seen = len(upstream.call(upstream.state.store.exchanges))
    assert seen == 2
    greeting = pytester.path / "recordings" / "test_calls" / "test_greeting.yaml"
    farewell = pytester.path / "recordings" / "test_calls" / "test_farewell.yaml"
    assert greeting.is_file() and farewell.is_file()
    assert CLIENT_KEY not in greeting.read_text() + farewell.read_text()

    # The upstream is gone: the recordings answer.
    pytester.runpytest_subprocess().assert_outcomes(passed=2)

    farewell.unlink()
    result = pytester.runpytest_subprocess()
    outcomes = result.parseoutcomes()
    assert outcomes.get("passed") == 1
    output = result.stdout.str()
    # The 404 fails the call, and the teardown says why (both about test_farewell only).
    failures = [line for line in output.splitlines() if line.startswith(("FAILED", "ERROR"))]
    assert failures and all("test_farewell" in line for line in failures), failures
    assert "there is no recording" in output and "test_farewell.yaml" in output
    assert "user='bye'" in output  # the request that found no recording


RICH_SCENARIOS = """\
scenarios:
  - name: refuse
    when: {last_user_message: {contains: forbidden}}
    reply: {refusal: "I can't help with that."}
  - name: cite
    when: {last_user_message: {contains: cite}}
    reply:
      content: "Paris is the capital of France."
      annotations: [{url: "https://example.org/paris", title: Paris, text: Paris}]
      logprobs: {top: 2}
      reasoning: "The user wants a source."
"""


def test_refusal_reasoning_annotations_and_logprobs_replay_as_recorded(tmp_path: Path) -> None:
    upstream_file = tmp_path / "rich.yaml"
    upstream_file.write_text(RICH_SCENARIOS)
    requests = [ask("forbidden thing"), ask("cite it", logprobs=True, top_logprobs=2)]
    out = tmp_path / "rec"
    with (
        server(Settings(port=0, seed=3, scenario_paths=(upstream_file,))) as upstream,
        recorder(f"{upstream.url}/v1", out) as rec,
    ):
        recorded = [plain(client(rec), **r)["choices"][0] for r in requests]
    assert recorded[0]["message"]["refusal"] == "I can't help with that."
    with replayer(out) as rep:
        replayed = [plain(client(rep), **r)["choices"][0] for r in requests]
    for before, after in zip(recorded, replayed, strict=True):
        for key in ("content", "refusal", "annotations"):
            assert after["message"][key] == before["message"][key], key
        assert after["finish_reason"] == before["finish_reason"]
        assert after["logprobs"] == before["logprobs"]
    assert replayed[1]["message"]["reasoning"] == "The user wants a source."


def test_the_documented_recording_is_a_valid_scenario_file() -> None:
    from mockllm import load_scenario_data

    doc = (Path(__file__).resolve().parents[2] / "docs" / "recording.md").read_text()
    block = doc.split("```yaml\n", 1)[1].split("```", 1)[0]
    (scenario,) = load_scenario_data(block)
    assert scenario.name == "weather-in-paris-1c9e0f3a"


def test_the_record_command_as_a_process(mockllm_upstream: MockLLMServer, tmp_path: Path) -> None:
    import re
    import subprocess
    import sys

    out = tmp_path / "out"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mockllm",
            "record",
            "--upstream",
            f"{mockllm_upstream.url}/v1",
            "--out",
            str(out),
            "--port",
            "0",
            "--upstream-key",
            KEY,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        url = re.search(r"http://[\d.]+:\d+", line)
        assert url, line
        api = openai.OpenAI(base_url=f"{url.group(0)}/v1", api_key=CLIENT_KEY, max_retries=0)
        reply = plain(
            api,
            **ask(
                "hello",
                messages=[
                    {"role": "system", "content": "You are a pirate."},
                    {"role": "user", "content": "hello"},
                ],
            ),
        )
    finally:
        process.terminate()
        _, err = process.communicate(timeout=10)
    assert reply["choices"][0]["message"]["content"] == "Arr, hello!"
    (file,) = out.glob("hello-*.yaml")
    text = file.read_text()
    assert "Arr, hello!" in text and KEY not in text and CLIENT_KEY not in text
    assert KEY not in err


def test_serve_and_record_flags_reach_the_settings(tmp_path: Path) -> None:
    from mockllm.cli import _parser, _settings

    serve = _settings(
        _parser().parse_args(
            [
                "serve",
                "--scenarios",
                str(tmp_path),
                "--record",
                "missing",
                "--upstream",
                "http://up/v1",
                "--upstream-key",
                KEY,
                "--redact",
                "x+",
                "--redact",
                "y+",
            ]
        )
    )
    assert (serve.record, serve.upstream, serve.redact) == (
        RecordMode.MISSING,
        "http://up/v1",
        ("x+", "y+"),
    )
    assert KEY not in repr(serve)
    record = _settings(_parser().parse_args(["record", "--upstream", "http://up/v1"]))
    assert (record.record, record.record_dir) == (RecordMode.ALL, Path("recordings"))
    plain_serve = _settings(_parser().parse_args(["serve", "--upstream", "http://up/v1"]))
    assert plain_serve.record is RecordMode.NONE  # an upstream alone never forwards
