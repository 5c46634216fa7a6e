"""Stored completions: what a request with ``store: true`` leaves behind, and its routes.

    GET    /v1/chat/completions                  list: ?model= &metadata[k]=v &after=
                                                 &limit= &order=
    GET    /v1/chat/completions/{id}             one completion
    POST   /v1/chat/completions/{id}             replace its metadata ({"metadata": {...}})
    DELETE /v1/chat/completions/{id}             forget it
    GET    /v1/chat/completions/{id}/messages    the request's messages (?after= &limit= &order=)

The shapes are the ones the openai SDK parses (``SyncCursorPage[ChatCompletion]``,
``ChatCompletionDeleted``, ``ChatCompletionStoreMessage``). Completions are kept in
the state store, bounded like the journal, so every worker sharing a store sees them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import orjson
from aiohttp import web

from ..errors import BadRequestError, NotFoundError
from ..state import StoredCompletion
from .context import state_of
from .middleware import json_response

__all__ = ["setup_completions"]

_PATH = "/v1/chat/completions"
_METADATA_PARAM = re.compile(r"^metadata\[(.+)\]$")
# OpenAI's bounds on metadata: 16 pairs, keys up to 64 characters, values up to 512.
_MAX_PAIRS, _MAX_KEY, _MAX_VALUE = 16, 64, 512
_DEFAULT_LIMIT, _MAX_LIMIT = 20, 100


def setup_completions(app: web.Application) -> None:
    """Mount the stored-completion routes on ``app``."""
    app.router.add_get(_PATH, _list)
    app.router.add_get(_PATH + "/{id}", _get)
    app.router.add_post(_PATH + "/{id}", _update)
    app.router.add_delete(_PATH + "/{id}", _delete)
    app.router.add_get(_PATH + "/{id}/messages", _messages)


def _view(completion: StoredCompletion) -> dict[str, Any]:
    """The completion as the API lists it: the reply, with the request's metadata."""
    return {**completion.response, "metadata": dict(completion.metadata)}


async def _find(request: web.Request) -> StoredCompletion:
    wanted = request.match_info["id"]
    for completion in await state_of(request).store.completions():
        if completion.id == wanted:
            return completion
    raise NotFoundError(
        f"No chat completion found with id '{wanted}'. Only completions created with "
        "store: true are kept.",
        param="completion_id",
        openai_code="not_found",
    )


def _page(
    items: Sequence[Any],
    query: Mapping[str, str],
    key: Callable[[Any], str],
    view: Callable[[Any], dict[str, Any]],
) -> dict[str, Any]:
    """A cursor page: ``order`` (asc by default), after the ``after`` id, ``limit`` long."""
    order = query.get("order", "asc")
    if order not in ("asc", "desc"):
        raise BadRequestError(f"order must be 'asc' or 'desc', not {order!r}.", param="order")
    limit_text = query.get("limit", str(_DEFAULT_LIMIT))
    if not limit_text.isdigit() or not 1 <= int(limit_text) <= _MAX_LIMIT:
        raise BadRequestError(
            f"limit must be a whole number from 1 to {_MAX_LIMIT}, not {limit_text!r}.",
            param="limit",
        )
    ordered = list(items) if order == "asc" else list(reversed(items))
    after = query.get("after")
    if after is not None:
        ids = [key(item) for item in ordered]
        if after not in ids:
            raise BadRequestError(f"after: no item with id {after!r} in this list.", param="after")
        ordered = ordered[ids.index(after) + 1 :]
    page = ordered[: int(limit_text)]
    data = [view(item) for item in page]
    return {
        "object": "list",
        "data": data,
        "first_id": key(page[0]) if page else None,
        "last_id": key(page[-1]) if page else None,
        "has_more": len(ordered) > len(page),
    }


async def _list(request: web.Request) -> web.Response:
    """Stored completions, filtered by model and metadata."""
    wanted = {
        m.group(1): value
        for name, value in request.query.items()
        if (m := _METADATA_PARAM.match(name))
    }
    state = state_of(request)
    model = request.query.get("model")
    # A model alias finds the completions answered with its dated snapshot too.
    card = state.catalog.get(model)
    models = {model, card.snapshot} if card is not None else {model}
    found = [
        c
        for c in await state.store.completions()
        if (model is None or c.model in models)
        and all(c.metadata.get(k) == v for k, v in wanted.items())
    ]
    return json_response(_page(found, request.query, lambda c: c.id, _view))


async def _get(request: web.Request) -> web.Response:
    """One stored completion."""
    return json_response(_view(await _find(request)))


async def _update(request: web.Request) -> web.Response:
    """Replace a stored completion's metadata."""
    completion = await _find(request)
    try:
        body = orjson.loads(await request.read() or b"null")
    except orjson.JSONDecodeError as exc:
        raise BadRequestError(f"The request body is not valid JSON: {exc}.") from None
    metadata = body.get("metadata") if isinstance(body, dict) else None
    _check_metadata(metadata)
    updated = await state_of(request).store.update_completion(completion.id, metadata or {})
    if updated is None:  # deleted meanwhile
        raise NotFoundError(
            f"No chat completion found with id '{completion.id}'.",
            param="completion_id",
            openai_code="not_found",
        )
    return json_response(_view(updated))


def _check_metadata(metadata: Any) -> None:
    if metadata is None:
        return
    if not isinstance(metadata, dict):
        raise BadRequestError(
            "metadata must be an object of string keys and values.", param="metadata"
        )
    if len(metadata) > _MAX_PAIRS:
        raise BadRequestError(f"metadata holds at most {_MAX_PAIRS} pairs.", param="metadata")
    for key, value in metadata.items():
        if len(key) > _MAX_KEY or not isinstance(value, str) or len(value) > _MAX_VALUE:
            raise BadRequestError(
                f"metadata[{key!r}]: keys are at most {_MAX_KEY} characters and values "
                f"strings of at most {_MAX_VALUE}.",
                param=f"metadata.{key}",
            )


async def _delete(request: web.Request) -> web.Response:
    """Forget a stored completion."""
    completion = await _find(request)
    deleted = await state_of(request).store.delete_completion(completion.id)
    return json_response(
        {"id": completion.id, "object": "chat.completion.deleted", "deleted": deleted}
    )


async def _messages(request: web.Request) -> web.Response:
    """The messages of the request that made a stored completion."""
    completion = await _find(request)
    messages = [
        _store_message(completion.id, i, m) for i, m in enumerate(completion.request_messages)
    ]
    return json_response(_page(messages, request.query, lambda m: m["id"], lambda m: m))


def _store_message(completion_id: str, position: int, message: Any) -> dict[str, Any]:
    message = dict(message) if isinstance(message, Mapping) else {"content": message}
    content = message.get("content")
    parts = content if isinstance(content, list) else None
    text = (
        content
        if isinstance(content, str)
        else (
            "\n".join(
                p.get("text", "")
                for p in parts
                if isinstance(p, Mapping) and p.get("type") == "text"
            )
            if parts is not None
            else None
        )
    )
    return {**message, "id": f"{completion_id}-{position}", "content": text, "content_parts": parts}
