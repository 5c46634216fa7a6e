"""``POST /v1/chat/completions``: the pipeline (:mod:`.pipeline`) on the chat surface.

The lean lane (leanserver.py) serves the chat paths itself and calls
:func:`chat_completions`; the browser view re-cuts a journaled chat stream with
:func:`stream_chunks`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from aiohttp import web

from ..surfaces.chat import CHAT_PATHS, ChatSurface
from ..surfaces.chat.stream import chunk_dicts
from .context import ServerState
from .leanio import AnyRequest
from .pipeline import generate_reply

__all__ = ["CHAT", "CHAT_PATHS", "chat_completions", "stream_chunks"]

CHAT = ChatSurface()


async def chat_completions(request: AnyRequest) -> web.StreamResponse:
    """The chat completions handler: the pipeline on the chat surface."""
    return await generate_reply(CHAT, request)


def stream_chunks(state: ServerState, body: Mapping[str, Any], reply_body: Mapping[str, Any],
                  chunking: str, chunk_size: int) -> Iterator[dict[str, Any]]:
    """The ``chat.completion.chunk``s a stream of ``reply_body`` sends, cut by
    ``chunking`` and ``chunk_size`` (the browser view shows them)."""
    return chunk_dicts(state.generator, body, reply_body, chunking, chunk_size)
