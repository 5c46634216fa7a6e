"""Chat completions streams: the engine's reply -> ``chat.completion.chunk`` events.

The chunks themselves are the reply engine's (``reply_engine/streaming.py``: which
deltas, in which order); this module decides how one stream of a request is cut (its
``stream_options``, the reply's ``timing.chunk``/``chunk_size``, the model's tokenizer)
and frames the chunks as ``data:`` events ending in ``data: [DONE]``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import orjson

from ...config import ErrorDialect
from ...errors import APIError
from ...reply_engine import streaming
from ...reply_engine.generate import Generator
from ..sse import SSE_DONE, data_event, joined_stream
from .errors import error_body

__all__ = ["ChatEvents", "chunk_dicts", "events"]


class ChatEvents:
    """The events of one chat completions stream (an ``EventStream``)."""

    __slots__ = ("chunks",)

    end = SSE_DONE

    def __init__(self, chunks: streaming.ChunkJson) -> None:
        self.chunks = chunks

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self.chunks:
            yield b"data: " + chunk + b"\n\n"

    def whole(self) -> bytes:
        """Every event and ``[DONE]``, with the envelope spliced in once per chunk."""
        chunks = self.chunks
        return joined_stream(chunks.head, chunks.parts, chunks.tail, chunks.after)

    def error_event(self, error: APIError) -> bytes:
        """OpenAI's error object as one ``data:`` event."""
        return data_event(orjson.dumps(error_body(error, ErrorDialect.OPENAI)))

    def cut_event(self, event: bytes | None) -> bytes:
        """The event cut inside its JSON, as a broken proxy would pass it on."""
        if event is None:
            event = data_event(b'{"id":"cut"}')
        return event[:-12] + b"\n\n"


def _cut(
    generator: Generator, body: Mapping[str, Any], chunking: str, chunk_size: int
) -> dict[str, Any]:
    """How a stream of the reply to ``body`` is cut: the arguments of
    ``streaming.iter_chunks`` and ``streaming.chunk_json`` besides the reply."""
    options = body.get("stream_options") or {}
    return {
        "include_usage": bool(options.get("include_usage")),
        "chunking": chunking,
        "chunk_size": chunk_size,
        "tokenizer": generator.tokenizer_for(body.get("model")),
        # The API pads every chunk unless the request turns it off.
        "obfuscation": options.get("include_obfuscation") is not False,
    }


def events(
    generator: Generator,
    body: Mapping[str, Any],
    generated: Mapping[str, Any],
    timing: Mapping[str, Any],
) -> ChatEvents:
    """The stream of ``generated`` for ``body``, cut as the reply's ``timing`` says."""
    return ChatEvents(
        streaming.chunk_json(
            generated,
            **_cut(
                generator, body, timing.get("chunk", "tokens"), int(timing.get("chunk_size", 1))
            ),
        )
    )


def chunk_dicts(
    generator: Generator,
    body: Mapping[str, Any],
    generated: Mapping[str, Any],
    chunking: str,
    chunk_size: int,
) -> Iterator[dict[str, Any]]:
    """The ``chat.completion.chunk``s a stream of ``generated`` sends, cut by
    ``chunking`` and ``chunk_size``; the same each time (the browser view re-cuts a
    journaled reply to show its chunks)."""
    return streaming.iter_chunks(generated, **_cut(generator, body, chunking, chunk_size))
