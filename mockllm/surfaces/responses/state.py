"""Responses state: stored responses, ``previous_response_id``, ``item_reference``s.

A response created with ``store`` (the default) is kept in the state store (so every
worker sharing a Redis store sees it) with its input items and its whole context (the
earlier turns' items, its input, its output), which a later ``previous_response_id``
puts before that request's input; each item is kept by its id too, for
``item_reference``. ``store: false`` keeps nothing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

from ...state import StateStore
from .errors import previous_not_found
from .request import input_items

__all__ = ["RESPONSE", "context", "keep", "stored"]

# The store's kinds: a stored response, and one item by its id.
RESPONSE = "response"
_ITEM = "response_item"
# The id prefix of each kind of input item.
_ID_PREFIXES = MappingProxyType(
    {"message": "msg", "function_call": "fc", "function_call_output": "fco"}
)


async def stored(store: StateStore, response_id: str) -> dict[str, Any] | None:
    """What was kept of a response (``response``, ``input``, ``context``), or None."""
    return await store.get_object(RESPONSE, response_id)


async def context(store: StateStore, body: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The items a request's model sees before its own input: the earlier response's
    context (``previous_response_id``), then its input with references resolved."""
    earlier: list[dict[str, Any]] = []
    previous = body.get("previous_response_id")
    if isinstance(previous, str):
        found = await stored(store, previous)
        if found is None:
            raise previous_not_found(previous)
        earlier = list(found["context"])
    resolved = []
    for item in input_items(body):
        if item.get("type") == "item_reference" and isinstance(item.get("id"), str):
            kept = await store.get_object(_ITEM, item["id"])
            if kept is not None:
                resolved.append(kept)
            continue
        resolved.append(item)
    return earlier + resolved


def with_ids(response_id: str, items: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Input items as the API lists them: each with an id (made from the response's id
    and the item's place when the request gave none), a status, and a message's text
    as parts."""
    out = []
    for index, given in enumerate(items):
        item = {"type": "message", **given}
        kind = item["type"]
        if "id" not in item:
            digest = hashlib.blake2b(f"{response_id}:in:{index}".encode(), digest_size=24)
            item = {"id": f"{_ID_PREFIXES.get(kind, 'item')}_{digest.hexdigest()}", **item}
        item.setdefault("status", "completed")
        content = item.get("content")
        if kind == "message" and isinstance(content, str):
            item["content"] = [
                {"type": "output_text", "text": content, "annotations": []}
                if item.get("role") == "assistant"
                else {"type": "input_text", "text": content}
            ]
        out.append(item)
    return out


async def keep(
    store: StateStore,
    body: Mapping[str, Any],
    response: Mapping[str, Any],
    seen: Sequence[Mapping[str, Any]],
    *,
    pending: bool = False,
) -> None:
    """Keep ``response`` (unless the request said ``store: false``); ``seen`` is the
    context it answered (:func:`context`); ``pending``: a background response answered
    queued (until it is retrieved, or cancelled)."""
    if body.get("store") is False:
        return
    inputs = with_ids(str(response["id"]), input_items(body))
    output = list(response.get("output") or ())
    await store.put_object(
        RESPONSE,
        str(response["id"]),
        {
            "response": dict(response),
            "input": inputs,
            "context": [*seen, *output],
            "pending": pending,
        },
    )
    for item in [*inputs, *output]:
        await store.put_object(_ITEM, str(item["id"]), item)
