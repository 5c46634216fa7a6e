"""iter_chunks(): streams that OpenAI's own accumulator turns back into the reply.

Each case builds a reply with generate(), streams it, feeds every chunk through the
openai SDK's ChatCompletionStreamState (what client.chat.completions.stream() uses)
and compares the accumulated choices with the non-streaming ones. The chunk rules are
those ``mockllm conform`` holds other servers to (mockllm.conform.sse), and its
accumulator must agree with the SDK's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
import pytest
from faker import Faker
from openai.lib.streaming.chat import ChatCompletionStreamState
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from mockllm.conform.sse import analyse
from mockllm.http import wire
from mockllm.reply_engine.generate import Generator
from mockllm.reply_engine.streaming import chunk_json, iter_chunks

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "search",
            "parameters": {
                "type": "object",
                "properties": {"query": {"type": "string"}},
                "required": ["query"],
            },
        },
    },
]
SCHEMA = {
    "type": "object",
    "properties": {"a": {"type": "integer"}, "b": {"type": "string"}},
    "required": ["a", "b"],
}


# The model of every request here; usage is counted in its encoding (o200k_base).
MODEL = "gpt-4o-mini"


@pytest.fixture(scope="module")
def gen() -> Generator:
    return Generator(Faker())


def ask(**fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"model": MODEL, "messages": [{"role": "user", "content": "Hi there"}]}
    body.update(fields)
    return body


CASES: list[tuple[str, dict[str, Any], dict[str, Any] | None]] = [
    ("text", ask(), None),
    ("n=2", ask(n=2), None),
    ("tool", ask(tools=TOOLS, tool_choice="required", parallel_tool_calls=False), None),
    (
        "parallel tools",
        ask(tools=TOOLS),
        {
            "tool_calls": [
                {"name": "get_weather"},
                {"name": "search", "arguments": {"query": "x" * 40}},
            ]
        },
    ),
    ("refusal", ask(), {"refusal": "I can't help with that request."}),
    ("reasoning", ask(reasoning_effort="medium"), None),
    ("logprobs", ask(logprobs=True, top_logprobs=2, n=2), None),
    ("refusal logprobs", ask(logprobs=True), {"refusal": "No, sorry."}),
    ("audio", ask(modalities=["text", "audio"], audio={"format": "wav", "voice": "alloy"}), None),
    (
        "json schema",
        ask(
            response_format={"type": "json_schema", "json_schema": {"name": "s", "schema": SCHEMA}}
        ),
        None,
    ),
    ("length", ask(max_completion_tokens=3, logprobs=True), None),
    ("empty content", ask(stop=["A", "B", "C", "D"]), {"content": "Alpha"}),
    ("annotations", ask(), {"annotations": 2}),
    (
        "content and tools",
        ask(tools=TOOLS),
        {"content": "Checking.", "tool_calls": [{"name": "search"}]},
    ),
]


def accumulate(chunks: list[dict[str, Any]], tools: Any = None) -> Any:
    state = ChatCompletionStreamState(input_tools=tools or [])
    for chunk in chunks:
        for _ in state.handle_chunk(ChatCompletionChunk.model_validate(chunk)):
            pass
    # The snapshot, not get_final_completion(): the SDK refuses to "parse" a reply that
    # hit the length limit, even when there is nothing to parse.
    return state.current_completion_snapshot


def comparable(choice: Any) -> dict[str, Any]:
    """A choice as a plain dict; streams carry no empty annotations list (see streaming.py)."""
    data = choice.model_dump()
    message = data["message"]
    message.pop("parsed", None)
    message["annotations"] = message.get("annotations") or []
    for call in message.get("tool_calls") or []:
        # The SDK keeps the delta's `index` and adds `parsed_arguments`: its own bookkeeping.
        call.pop("index", None)
        call["function"].pop("parsed_arguments", None)
    return data


@pytest.mark.parametrize("include_usage", [True, False])
@pytest.mark.parametrize("chunking, size", [("tokens", 1), ("tokens", 3), ("chars", 5)])
@pytest.mark.parametrize("name, request_body, reply", CASES, ids=[c[0] for c in CASES])
def test_stream_accumulates_to_the_reply(
    gen: Generator,
    name: str,
    request_body: dict[str, Any],
    reply: dict[str, Any] | None,
    include_usage: bool,
    chunking: str,
    size: int,
) -> None:
    body = gen.generate(request_body, reply, seed=11, created=1_750_000_000)
    chunks = list(
        iter_chunks(
            body,
            include_usage=include_usage,
            chunking=chunking,
            chunk_size=size,
            tokenizer=gen.tokenizer_for(MODEL),
        )
    )
    final = accumulate(chunks, request_body.get("tools"))
    expected = ChatCompletion.model_validate(body)
    assert [comparable(c) for c in final.choices] == [comparable(c) for c in expected.choices]
    analysis = analyse(chunks, include_usage=include_usage)
    assert analysis.problems == {}
    ours = ChatCompletion.model_validate(analysis.completion)
    assert [comparable(c) for c in ours.choices] == [comparable(c) for c in expected.choices]
    assert final.id == body["id"] and final.model == body["model"]
    if include_usage:
        assert final.usage == expected.usage
    else:
        assert final.usage is None


@pytest.mark.parametrize("name, request_body, reply", CASES, ids=[c[0] for c in CASES])
def test_chunk_shapes(
    gen: Generator, name: str, request_body: dict[str, Any], reply: dict[str, Any] | None
) -> None:
    body = gen.generate(request_body, reply, seed=5, created=1_750_000_000)
    chunks = list(iter_chunks(body, include_usage=True, tokenizer=gen.tokenizer_for(MODEL)))
    envelope = {
        k: body[k] for k in ("id", "created", "model", "system_fingerprint", "service_tier")
    }
    for chunk in chunks:
        assert chunk["object"] == "chat.completion.chunk"
        assert {k: chunk[k] for k in envelope} == envelope
    # The wire rules (one id, role once, one finish per choice, tool deltas by index,
    # a last usage chunk with choices []) as mockllm conform checks them on any server.
    assert analyse(chunks, include_usage=True).problems == {}
    *streamed, last = chunks
    assert last["usage"] == body["usage"]
    assert all(c["usage"] is None and len(c["choices"]) == 1 for c in streamed)

    for index, choice in enumerate(body["choices"]):
        parts = [c["choices"][0] for c in streamed if c["choices"][0]["index"] == index]
        deltas = [p["delta"] for p in parts]
        assert parts[-1]["finish_reason"] == choice["finish_reason"]
        assert deltas[-1] == {}
        _check_tool_deltas(deltas, choice["message"])
        if choice["message"].get("audio"):
            audio = [d["audio"] for d in deltas if "audio" in d]
            assert sum("id" in a for a in audio) == 1
            assert sum("expires_at" in a for a in audio) == 1
            assert sum("data" in a for a in audio) >= 1


@pytest.mark.parametrize("include_usage", [True, False])
@pytest.mark.parametrize("chunking, size", [("tokens", 1), ("tokens", 3), ("chars", 5)])
@pytest.mark.parametrize(
    "name, request_body, reply",
    [
        *CASES,
        ("n=3 tools", ask(n=3, tools=TOOLS), None),
        (
            "provider",
            ask(),
            {"provider": "acme", "service_tier": "flex", "system_fingerprint": "fp_x"},
        ),
        ("unicode", ask(), {"content": 'Ünï 日本 🎉 "q" \\ </b>\u2028'}),
    ],
    ids=[c[0] for c in CASES] + ["n=3 tools", "provider", "unicode"],
)
def test_encoded_chunks_are_the_chunk_dicts_bytes(
    gen: Generator,
    name: str,
    request_body: dict[str, Any],
    reply: dict[str, Any] | None,
    include_usage: bool,
    chunking: str,
    size: int,
) -> None:
    """What a stream writes (chunk_json, one write or a chunk at a time) is byte for byte
    the SSE framing of iter_chunks' dicts, which the browser view shows."""
    body = gen.generate(request_body, reply, seed=3, created=1_750_000_000)
    cut = {
        "include_usage": include_usage,
        "chunking": chunking,
        "chunk_size": size,
        "tokenizer": gen.tokenizer_for(MODEL),
    }
    dicts = list(iter_chunks(body, **cut))
    encoded = chunk_json(body, **cut)
    assert list(encoded) == [orjson.dumps(chunk) for chunk in dicts]
    assert (
        wire.sse_stream(encoded)
        == b"".join(wire.sse_event(chunk) for chunk in dicts) + wire.SSE_DONE
    )


def _check_tool_deltas(deltas: list[Mapping[str, Any]], message: Mapping[str, Any]) -> None:
    calls = message.get("tool_calls") or []
    for position, call in enumerate(calls):
        pieces = [tc for d in deltas for tc in d.get("tool_calls", []) if tc["index"] == position]
        head, *rest = pieces
        assert head == {
            "index": position,
            "id": call["id"],
            "type": "function",
            "function": {"name": call["function"]["name"], "arguments": ""},
        }
        assert len(rest) >= 2, "arguments arrive in several fragments"
        assert all(
            set(p) == {"index", "function"} and set(p["function"]) == {"arguments"} for p in rest
        )
        assert "".join(p["function"]["arguments"] for p in rest) == call["function"]["arguments"]


def test_no_usage_key_without_include_usage(gen: Generator) -> None:
    body = gen.generate(ask(n=2), None, seed=1, created=1)
    chunks = list(iter_chunks(body, include_usage=False, tokenizer=gen.tokenizer_for(MODEL)))
    assert all("usage" not in c for c in chunks)
    assert all(c["choices"] for c in chunks)


def test_choices_interleave_and_open_in_order(gen: Generator) -> None:
    body = gen.generate(ask(n=3), None, seed=2, created=1)
    order = [
        c["choices"][0]["index"]
        for c in iter_chunks(body, include_usage=False, tokenizer=gen.tokenizer_for(MODEL))
    ]
    assert order[:6] == [0, 1, 2, 0, 1, 2]
    # One opening delta, one per token, one closing delta for each choice.
    assert [order.count(i) for i in range(3)] == [
        len(gen.tokenizer_for(MODEL).split(c["message"]["content"])) + 2 for c in body["choices"]
    ]


@pytest.mark.parametrize("size", [1, 4])
def test_logprobs_travel_with_their_tokens(gen: Generator, size: int) -> None:
    body = gen.generate(ask(logprobs=True, top_logprobs=1), None, seed=4, created=1)
    for chunk in iter_chunks(
        body, include_usage=False, chunk_size=size, tokenizer=gen.tokenizer_for(MODEL)
    ):
        part = chunk["choices"][0]
        piece = part["delta"].get("content")
        if piece:
            assert "".join(e["token"] for e in part["logprobs"]["content"]) == piece
            assert 1 <= len(part["logprobs"]["content"]) <= size


def test_chars_chunking_sends_pieces_of_that_size(gen: Generator) -> None:
    body = gen.generate(ask(), {"content": "abcdefghijklmnopqrstuvwxyz"}, seed=1, created=1)
    pieces = [
        c["choices"][0]["delta"].get("content")
        for c in iter_chunks(body, include_usage=False, chunking="chars", chunk_size=10)
    ]
    assert [p for p in pieces if p] == ["abcdefghij", "klmnopqrst", "uvwxyz"]


def test_unknown_chunking_is_refused(gen: Generator) -> None:
    body = gen.generate(ask(), None, seed=1, created=1)
    with pytest.raises(ValueError, match="chunking"):
        list(iter_chunks(body, include_usage=False, chunking="words"))
