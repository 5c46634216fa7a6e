"""Server-sent events framing, as the APIs that mockllm serves write it (LF framing).

Chat completions streams are ``data: <json>`` events ending in ``data: [DONE]``; the
Responses and Messages APIs name each event (``event: <type>``) and end without a
marker. Every surface frames its events here, so the bytes agree everywhere.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["SSE_DONE", "data_event", "joined_stream", "named_event"]

SSE_DONE = b"data: [DONE]\n\n"


def data_event(data: bytes) -> bytes:
    """One event of encoded JSON: ``data: <json>`` and a blank line."""
    return b"data: " + data + b"\n\n"


def named_event(event: str, data: bytes) -> bytes:
    """One event with a type: ``event: <type>``, ``data: <json>`` and a blank line."""
    return b"event: " + event.encode() + b"\ndata: " + data + b"\n\n"


def joined_stream(head: bytes, parts: list[bytes], tail: bytes, after: Sequence[bytes]) -> bytes:
    """A whole chat stream in one piece: ``data:`` events of ``head + part + tail`` for
    each part, then one for each of ``after`` (usage, moderation) and ``data: [DONE]``;
    the framing between two parts is spliced in once rather than built for each."""
    out = []
    if parts:
        between = tail + b"\n\ndata: " + head
        out += [b"data: ", head, between.join(parts), tail, b"\n\n"]
    out += [data_event(chunk) for chunk in after]
    out.append(SSE_DONE)
    return b"".join(out)
