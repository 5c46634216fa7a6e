"""Bodies to bytes: JSON, JSONP, server-sent events, and error bodies in both envelopes.

Nothing here knows about HTTP; ``app.py`` picks the encoding and writes the bytes.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from ..config import ErrorDialect
from ..errors import MockLLMError
from ..reply_engine.streaming import ChunkJson

__all__ = [
    "SSE_DONE",
    "dumps",
    "error_body",
    "is_safe_callback",
    "jsonp",
    "sse_data",
    "sse_event",
    "sse_named",
    "sse_stream",
]

# A JavaScript identifier path such as `cb`, `$.handlers.done` or `jQuery123_456`: anything
# else is rejected, never echoed, so a JSONP reply cannot inject script.
_CALLBACK = re.compile(r"[A-Za-z_$][\w$]{0,63}(?:\.[A-Za-z_$][\w$]{0,63}){0,7}")

SSE_DONE = b"data: [DONE]\n\n"


def dumps(payload: Any) -> bytes:
    """Compact JSON, keys in insertion order, so equal payloads give equal bytes."""
    return orjson.dumps(payload)


def is_safe_callback(name: str) -> bool:
    """Whether ``name`` may be used as a JSONP callback."""
    return _CALLBACK.fullmatch(name) is not None


def jsonp(callback: str, body: bytes) -> bytes:
    """``callback(<json>)``, ServiceStack's JSONP framing (no trailing semicolon)."""
    return callback.encode() + b"(" + body + b")"


def sse_data(data: bytes) -> bytes:
    """One server-sent event of encoded JSON: ``data: <json>`` and a blank line (LF
    framing, as OpenAI)."""
    return b"data: " + data + b"\n\n"


def sse_event(payload: Any) -> bytes:
    """One server-sent event of ``payload`` (:func:`sse_data` of its JSON)."""
    return sse_data(orjson.dumps(payload))


def sse_stream(chunks: ChunkJson) -> bytes:
    """A whole stream in one piece: an event per chunk, then ``data: [DONE]`` (the bytes
    of :func:`sse_data` of each chunk in turn, with the envelope spliced in once per
    chunk rather than encoded again)."""
    out = []
    if chunks.parts:
        between = chunks.tail + b"\n\ndata: " + chunks.head
        out += [b"data: ", chunks.head, between.join(chunks.parts), chunks.tail, b"\n\n"]
    out += [sse_data(chunk) for chunk in chunks.after]
    out.append(SSE_DONE)
    return b"".join(out)


def sse_named(event: str, payload: Any) -> bytes:
    """One server-sent event of a type (``event: <name>``), for EventSource listeners."""
    return b"event: " + event.encode() + b"\n" + sse_event(payload)


def error_body(error: MockLLMError, dialect: ErrorDialect) -> dict[str, Any]:
    """The error body: ServiceStack ``responseStatus``, OpenAI ``error``, or both."""
    body: dict[str, Any] = {}
    if dialect is not ErrorDialect.OPENAI:
        body["responseStatus"] = {
            "errorCode": error.error_code,
            "message": error.message,
            "errors": [
                {"errorCode": f.error_code, "fieldName": f.field_name, "message": f.message}
                for f in error.field_errors
            ],
        }
        if error.details:
            # ResponseStatus.Meta is a string map: each detail as compact JSON text.
            body["responseStatus"]["meta"] = {
                key: dumps(value).decode() for key, value in error.details.items()}
    if dialect is not ErrorDialect.SERVICESTACK:
        body["error"] = {
            "message": _openai_message(error),
            "type": error.openai_type,
            "param": error.param,
            "code": error.openai_code,
        }
    return body


def _openai_message(error: MockLLMError) -> str:
    """OpenAI carries one message: with several field errors, list them all in it."""
    if len(error.field_errors) <= 1:
        return error.message
    lines = [f"{len(error.field_errors)} problems with the request:"]
    lines += [f"- {f.param}: {f.message}" for f in error.field_errors]
    return "\n".join(lines)
