"""A ``Message`` -> Anthropic's server-sent events, in the order the API sends them.

    event: message_start         the message with no content, stop_reason null, the
                                 final input and cache counts, output_tokens 1
    event: content_block_start   per block, in order: an empty block (text "",
                                 thinking "" with signature "", tool_use input {});
                                 redacted_thinking arrives whole
    event: ping                  once, after the first block starts
    event: content_block_delta   text_delta / thinking_delta + one signature_delta /
                                 input_json_delta (the first one "") / citations_delta
    event: content_block_stop
    event: message_delta         stop_reason, stop_sequence, cumulative usage
    event: message_stop

Each event is ``event: <type>`` and ``data: <json>`` lines and a blank line, LF framed;
there is no ``[DONE]``. Text and thinking are cut into ``chunk_size`` tokens (or
characters) per delta by the model's tokenizer, so their deltas join to the text of
the plain reply; tool input JSON is cut the same way. A stream that fails midway ends
with an ``error`` event (:func:`error_event`) and no stop events, as the API does.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import orjson

from ...errors import APIError
from ...reply_engine.tokens import Tokenizer
from ..sse import named_event
from .errors import error_event as error_payload

__all__ = ["events", "frame", "frame_error", "iter_events"]


def frame(payload: Mapping[str, Any]) -> bytes:
    """One event: ``event: <type>``, ``data: <json>`` and a blank line."""
    return named_event(str(payload["type"]), orjson.dumps(payload))


def frame_error(error: APIError) -> bytes:
    """The ``error`` event that ends a stream midway."""
    return frame(error_payload(error))


def _pieces(text: str, tokenizer: Tokenizer, chunking: str, size: int) -> list[str]:
    if not text:
        return []
    size = max(size, 1)
    if chunking == "chars":
        return [text[i : i + size] for i in range(0, len(text), size)]
    tokens = tokenizer.split(text)
    return ["".join(tokens[i : i + size]) for i in range(0, len(tokens), size)]


def _block_events(
    index: int, block: Mapping[str, Any], tokenizer: Tokenizer, chunking: str, size: int
) -> Iterator[dict[str, Any]]:
    kind = block["type"]

    def delta(body: dict[str, Any]) -> dict[str, Any]:
        return {"type": "content_block_delta", "index": index, "delta": body}

    if kind == "text":
        citations = block.get("citations")
        yield {
            "type": "content_block_start",
            "index": index,
            "content_block": {
                "type": "text",
                "text": "",
                **({"citations": []} if citations else {}),
            },
        }
        for citation in citations or ():
            yield delta({"type": "citations_delta", "citation": citation})
        for piece in _pieces(block["text"], tokenizer, chunking, size):
            yield delta({"type": "text_delta", "text": piece})
    elif kind == "thinking":
        yield {
            "type": "content_block_start",
            "index": index,
            "content_block": {"type": "thinking", "thinking": "", "signature": ""},
        }
        for piece in _pieces(block["thinking"], tokenizer, chunking, size):
            yield delta({"type": "thinking_delta", "thinking": piece})
        yield delta({"type": "signature_delta", "signature": block["signature"]})
    elif kind == "tool_use":
        yield {
            "type": "content_block_start",
            "index": index,
            "content_block": {**block, "input": {}},
        }
        text = json.dumps(block["input"], ensure_ascii=False) if block["input"] else ""
        yield delta({"type": "input_json_delta", "partial_json": ""})
        for piece in _pieces(text, tokenizer, chunking, max(size, 4)):
            yield delta({"type": "input_json_delta", "partial_json": piece})
    else:  # redacted_thinking and result blocks arrive whole
        yield {"type": "content_block_start", "index": index, "content_block": dict(block)}
    yield {"type": "content_block_stop", "index": index}


def iter_events(
    message: Mapping[str, Any],
    tokenizer: Tokenizer,
    *,
    chunking: str = "tokens",
    chunk_size: int = 1,
) -> Iterator[dict[str, Any]]:
    """The events of a stream of ``message``, as dicts (module docstring)."""
    usage = message["usage"]
    start = {
        **message,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "stop_details": None,
        "usage": {**usage, "output_tokens": 1},
    }
    yield {"type": "message_start", "message": start}
    blocks: Sequence[Mapping[str, Any]] = message["content"]
    for index, block in enumerate(blocks):
        for event in _block_events(index, block, tokenizer, chunking, chunk_size):
            yield event
            if index == 0 and event["type"] == "content_block_start":
                yield {"type": "ping"}
    if not blocks:
        yield {"type": "ping"}
    yield {
        "type": "message_delta",
        "delta": {
            "stop_reason": message["stop_reason"],
            "stop_sequence": message["stop_sequence"],
            "stop_details": message.get("stop_details"),
            "container": None,
        },
        "usage": {
            key: usage[key]
            for key in (
                "input_tokens",
                "cache_creation_input_tokens",
                "cache_read_input_tokens",
                "output_tokens",
                "server_tool_use",
            )
            if key in usage
        },
    }
    yield {"type": "message_stop"}


def events(
    message: Mapping[str, Any],
    tokenizer: Tokenizer,
    *,
    chunking: str = "tokens",
    chunk_size: int = 1,
) -> list[bytes]:
    """Each framed event of a stream of ``message``, in order."""
    return [
        frame(e) for e in iter_events(message, tokenizer, chunking=chunking, chunk_size=chunk_size)
    ]
