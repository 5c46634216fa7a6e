"""Chat completions replies: the engine's ChatResponse is this API's body as it is;
a request with ``store: true`` keeps it as a stored completion."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ...state import StateStore, StoredCompletion

__all__ = ["keep"]


async def keep(store: StateStore, body: Mapping[str, Any], reply: Mapping[str, Any]) -> None:
    """Store the completion of a request that asked for it (``store: true``)."""
    messages = body.get("messages")
    await store.store_completion(
        StoredCompletion(
            id=str(reply["id"]),
            created=int(reply.get("created") or 0),
            model=str(reply.get("model") or body.get("model") or ""),
            metadata=dict(body.get("metadata") or {}),
            request_messages=tuple(messages) if isinstance(messages, list) else (),
            response=dict(reply),
        )
    )
