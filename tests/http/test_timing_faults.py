"""Timing and fault injection, measured through the real openai SDK on a real server.

Timings are checked to an order of magnitude (0.5x to 3x of the configured value):
the suite runs on small, busy CI machines. Every fault test ends by checking that the
server still answers a plain request.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from mockllm.pytest_plugin import MockLLM

USER = [{"role": "user", "content": "Count to ten."}]
# Twelve words: with one token a chunk the stream has a dozen content chunks or so.
TEXT = "one two three four five six seven eight nine ten eleven twelve"
LOW, HIGH = 0.5, 3.0
# Wall-clock measurements: never at the same time as the browser tests (one xdist worker
# runs the whole group in turn, see --dist loadgroup in setup.cfg), whose chromium would
# otherwise take the CPU a 25 ms tolerance needs.
pytestmark = pytest.mark.xdist_group("wall-clock")


@pytest.fixture()
def client(mockllm: MockLLM) -> Iterator[openai.OpenAI]:
    """The SDK without retries, so each fault shows as the error the caller sees."""
    with openai.OpenAI(base_url=mockllm.base_url, api_key="sk-test", max_retries=0) as sdk:
        yield sdk


def _reply(mockllm: MockLLM, **reply: Any) -> None:
    mockllm.add({"name": "under-test", "reply": {"content": TEXT, **reply}})


def _arrivals(client: openai.OpenAI, **params: Any) -> tuple[float, list[float]]:
    """When the request went out, and when each chunk of its stream arrived."""
    started = time.perf_counter()
    stream = client.chat.completions.create(model="gpt-4o", messages=USER, stream=True, **params)
    times = [time.perf_counter() for _ in stream]
    return started, times


def _still_serving(client: openai.OpenAI, mockllm: MockLLM) -> None:
    mockllm.remove("under-test")
    reply = client.chat.completions.create(model="gpt-4o", messages=USER)
    assert reply.choices[0].finish_reason == "stop" and reply.choices[0].message.content


def _within(measured: float, configured: float) -> bool:
    return LOW * configured <= measured <= HIGH * configured


# --------------------------------------------------------------------------- timing


@pytest.mark.parametrize(
    ("timing", "expected_s"),
    [
        ({"ttft_ms": 300}, 0.3),
        ({"latency_ms": 250}, 0.25),
        ({"ttft_ms": 200, "latency_ms": 900}, 0.2),
    ],  # ttft_ms wins for streams
    ids=["ttft", "latency-as-first-delay", "ttft-wins"],
)
def test_first_token_delay(
    mockllm: MockLLM, client: openai.OpenAI, timing: dict, expected_s: float
) -> None:
    _reply(mockllm, timing=timing)
    started, times = _arrivals(client)
    assert _within(times[0] - started, expected_s), times[0] - started


@pytest.mark.parametrize(
    ("timing", "chunks_per_second"),
    [
        ({"tokens_per_second": 60}, 60),
        ({"tokens_per_second": 60, "chunk_size": 3}, 20),  # 3 tokens a chunk: a third the chunks
    ],
)
def test_token_rate(
    mockllm: MockLLM, client: openai.OpenAI, timing: dict, chunks_per_second: float
) -> None:
    _reply(mockllm, timing=timing)
    _, times = _arrivals(client)
    assert len(times) >= 5
    rate = (len(times) - 1) / (times[-1] - times[0])
    assert _within(rate, chunks_per_second), rate


def test_latency_on_a_plain_request(mockllm: MockLLM, client: openai.OpenAI) -> None:
    _reply(mockllm, timing={"latency_ms": 250})
    started = time.perf_counter()
    reply = client.chat.completions.create(model="gpt-4o", messages=USER)
    assert _within(time.perf_counter() - started, 0.25)
    assert reply.choices[0].message.content == TEXT


def _gaps(client: openai.OpenAI, seed: int) -> list[float]:
    started, times = _arrivals(client, seed=seed)
    points = [started, *times]
    return [b - a for a, b in zip(points, points[1:], strict=False)]


def test_seeded_jitter_repeats_its_schedule(mockllm: MockLLM, client: openai.OpenAI) -> None:
    # 20 tokens a second +-90 %: gaps between 5 and 95 ms, from the seeded generator.
    _reply(mockllm, timing={"latency_ms": 50, "tokens_per_second": 20, "jitter": 0.9})
    # A loaded machine can hold one delivery up; unseeded jitter would differ by up to
    # 90 ms in most gaps of every attempt, so a second or third attempt proves nothing less.
    for _ in range(3):
        first, second = _gaps(client, seed=5), _gaps(client, seed=5)
        assert len(first) == len(second)
        assert max(first[1:]) - min(first[1:]) > 0.03  # the jitter is there...
        pairs = zip(first, second, strict=True)
        if all(abs(a - b) < 0.025 for a, b in pairs):  # ...twice
            break
    else:
        pytest.fail(f"seeded jitter gave two schedules: {first} vs {second}")


# --------------------------------------------------------------------------- faults


@pytest.mark.parametrize("stream", [False, True])
def test_close_raises_connection_error(
    mockllm: MockLLM, client: openai.OpenAI, stream: bool
) -> None:
    _reply(mockllm, fault={"kind": "close"})
    with pytest.raises(openai.APIConnectionError):
        reply = client.chat.completions.create(model="gpt-4o", messages=USER, stream=stream)
        if stream:
            list(reply)  # type: ignore[arg-type]
    [exchange] = mockllm.requests
    assert exchange.tags.get("fault") == "close"
    _still_serving(client, mockllm)


@pytest.mark.parametrize("stream", [False, True])
def test_hang_lets_the_client_timeout_fire(
    mockllm: MockLLM, client: openai.OpenAI, stream: bool
) -> None:
    _reply(mockllm, fault={"kind": "hang"})
    started = time.perf_counter()
    with pytest.raises(openai.APITimeoutError):
        reply = client.chat.completions.create(
            model="gpt-4o", messages=USER, stream=stream, timeout=0.5
        )
        if stream:
            list(reply)  # type: ignore[arg-type]
    assert 0.4 <= time.perf_counter() - started < 3
    _still_serving(client, mockllm)


def _read_until_failure(client: openai.OpenAI) -> tuple[list[Any], BaseException]:
    received: list[Any] = []
    try:
        for chunk in client.chat.completions.create(model="gpt-4o", messages=USER, stream=True):
            received.append(chunk)
    except Exception as exc:  # what the caller's loop would see
        return received, exc
    raise AssertionError(f"the stream ended normally after {len(received)} chunks")


@pytest.mark.parametrize("after", [1, 4])
def test_disconnect_after_n_chunks(mockllm: MockLLM, client: openai.OpenAI, after: int) -> None:
    _reply(mockllm, fault={"kind": "disconnect", "after_chunks": after})
    received, error = _read_until_failure(client)
    assert len(received) == after
    assert isinstance(error, openai.APIConnectionError), repr(error)
    _still_serving(client, mockllm)


def test_malformed_chunk_breaks_the_decoder(mockllm: MockLLM, client: openai.OpenAI) -> None:
    _reply(mockllm, fault={"kind": "malformed_chunk", "after_chunks": 3})
    received, error = _read_until_failure(client)
    assert len(received) == 3
    assert isinstance(error, json.JSONDecodeError), repr(error)
    _still_serving(client, mockllm)


def test_stream_error_raises_api_error_mid_stream(mockllm: MockLLM, client: openai.OpenAI) -> None:
    _reply(mockllm, fault={"kind": "stream_error", "after_chunks": 2})
    received, error = _read_until_failure(client)
    assert len(received) == 2
    assert isinstance(error, openai.APIError), repr(error)
    assert "error" in error.message.lower()
    _still_serving(client, mockllm)


def test_faults_on_a_plain_request(mockllm: MockLLM, client: openai.OpenAI) -> None:
    _reply(mockllm, fault={"kind": "malformed_chunk"})
    with pytest.raises(Exception) as info:
        client.chat.completions.create(model="gpt-4o", messages=USER)
    assert isinstance(info.value, (json.JSONDecodeError, openai.APIResponseValidationError)), repr(
        info.value
    )
    mockllm.remove("under-test")
    _reply(mockllm, fault={"kind": "stream_error"})
    with pytest.raises(openai.InternalServerError):
        client.chat.completions.create(model="gpt-4o", messages=USER)
    _still_serving(client, mockllm)


@pytest.mark.parametrize("stream", [False, True])
def test_fault_with_probability_zero_never_fires(
    mockllm: MockLLM, client: openai.OpenAI, stream: bool
) -> None:
    _reply(mockllm, fault={"kind": "close", "probability": 0})
    for seed in range(8):
        reply = client.chat.completions.create(
            model="gpt-4o", messages=USER, seed=seed, stream=stream
        )
        if stream:
            text = "".join(c.choices[0].delta.content or "" for c in reply if c.choices)
        else:
            text = reply.choices[0].message.content
        assert text == TEXT
    assert not any("fault" in e.tags for e in mockllm.requests)


def test_fault_probability_is_seeded(mockllm: MockLLM, client: openai.OpenAI) -> None:
    _reply(mockllm, fault={"kind": "close", "probability": 0.5})

    def fired(seed: int) -> bool:
        try:
            client.chat.completions.create(model="gpt-4o", messages=USER, seed=seed)
        except openai.APIConnectionError:
            return True
        return False

    outcomes = [fired(seed) for seed in range(12)]
    assert any(outcomes) and not all(outcomes)
    assert [fired(seed) for seed in range(12)] == outcomes


@pytest.mark.parametrize("kind", ["disconnect", "stream_error"])
def test_fault_after_the_last_chunk_still_fires(
    mockllm: MockLLM, client: openai.OpenAI, kind: str
) -> None:
    _reply(mockllm, fault={"kind": kind, "after_chunks": 1000})
    received, error = _read_until_failure(client)
    assert received and isinstance(error, openai.APIError)


@pytest.mark.parametrize(
    ("kind", "stream"), [("close", False), ("close", True), ("disconnect", True)]
)
def test_injected_faults_do_not_log_errors(
    mockllm: MockLLM,
    client: openai.OpenAI,
    caplog: pytest.LogCaptureFixture,
    kind: str,
    stream: bool,
) -> None:
    _reply(mockllm, fault={"kind": kind, "after_chunks": 2})
    with caplog.at_level("ERROR"), pytest.raises(openai.APIConnectionError):
        if stream:
            list(client.chat.completions.create(model="gpt-4o", messages=USER, stream=True))
        else:
            client.chat.completions.create(model="gpt-4o", messages=USER)
    _still_serving(client, mockllm)  # the server has finished with the faulty request
    assert [r.getMessage() for r in caplog.records if r.levelname == "ERROR"] == []


def test_a_finished_stream_is_already_in_the_journal(
    mockllm: MockLLM, client: openai.OpenAI
) -> None:
    # The exchange is journaled before [DONE] leaves: never missing once the client is done.
    for i in range(60):
        chunks = list(
            client.chat.completions.create(
                model="gpt-4o", messages=[{"role": "user", "content": f"n{i}"}], stream=True
            )
        )
        assert chunks
        assert len(mockllm.requests) == i + 1


@pytest.mark.parametrize("kind", ["disconnect", "stream_error"])
def test_a_stream_cut_by_a_fault_is_journaled_as_cut(
    mockllm: MockLLM, client: openai.OpenAI, kind: str
) -> None:
    _reply(mockllm, fault={"kind": kind, "after_chunks": 2})
    with pytest.raises(openai.APIError):
        list(client.chat.completions.create(model="gpt-4o", messages=USER, stream=True))
    exchange = mockllm.last_request
    assert exchange is not None and exchange.stream
    assert exchange.response is None
    assert exchange.to_json()["tags"]["fault"] == kind
