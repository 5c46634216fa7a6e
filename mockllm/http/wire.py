"""Bodies to bytes: JSON, JSONP, server-sent events, and error bodies in both envelopes.

Nothing here knows about HTTP; ``app.py`` picks the encoding and writes the bytes. The
SSE framing and the chat error envelope are the surfaces' (``surfaces/sse.py``,
``surfaces/chat/errors.py``), named here too for the control API and the browser view.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from ..reply_engine.streaming import ChunkJson
from ..surfaces.chat.errors import error_body
from ..surfaces.sse import SSE_DONE, joined_stream, named_event
from ..surfaces.sse import data_event as sse_data

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


def dumps(payload: Any) -> bytes:
    """Compact JSON, keys in insertion order, so equal payloads give equal bytes."""
    return orjson.dumps(payload)


def is_safe_callback(name: str) -> bool:
    """Whether ``name`` may be used as a JSONP callback."""
    return _CALLBACK.fullmatch(name) is not None


def jsonp(callback: str, body: bytes) -> bytes:
    """``callback(<json>)``, ServiceStack's JSONP framing (no trailing semicolon)."""
    return callback.encode() + b"(" + body + b")"


def sse_event(payload: Any) -> bytes:
    """One server-sent event of ``payload`` (:func:`sse_data` of its JSON)."""
    return sse_data(orjson.dumps(payload))


def sse_stream(chunks: ChunkJson) -> bytes:
    """A whole chat stream in one piece: an event per chunk, then ``data: [DONE]``."""
    return joined_stream(chunks.head, chunks.parts, chunks.tail, chunks.after)


def sse_named(event: str, payload: Any) -> bytes:
    """One server-sent event of a type (``event: <name>``), for EventSource listeners."""
    return named_event(event, orjson.dumps(payload))
