"""The Responses surface: ``/v1/responses`` (OpenAI's Responses API) over the same engine.

    POST   /v1/responses                       a model's reply: JSON, or typed events
    GET    /v1/responses/{id}                  a stored response
    DELETE /v1/responses/{id}                  forget it
    GET    /v1/responses/{id}/input_items      its input items (?limit= &order= &after=)
    POST   /v1/responses/{id}/cancel           cancel a queued background response
    POST   /v1/responses/input_tokens          the input's token count

Its body reads into the neutral view (:mod:`.request`), so chat-format scenarios answer
it; the engine's reply is written as a ``response`` (:mod:`.reply`) or its events
(:mod:`.stream`); errors always use OpenAI's envelope (:mod:`.errors`); stored
responses live in the state store (:mod:`.state`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from ...config import ErrorDialect
from ...errors import APIError, BadRequestError, FieldError
from ..base import Ask, Call, Engine, EventStream, Route, Surface
from ..neutral import reply_of
from . import errors, reply, request, state, stream

__all__ = ["ResponsesSurface"]

_PATH = "/v1/responses"
_DEFAULT_LIMIT, _MAX_LIMIT = 20, 100


class ResponsesSurface(Surface):
    """OpenAI's Responses API."""

    name: ClassVar[str] = "responses"
    title: ClassVar[str] = "Responses request"
    routes: ClassVar[tuple[Route, ...]] = (
        Route("POST", _PATH),
        Route("POST", _PATH + "/input_tokens", "count_input_tokens"),
        Route("GET", _PATH + "/{id}", "retrieve"),
        Route("DELETE", _PATH + "/{id}", "delete"),
        Route("GET", _PATH + "/{id}/input_items", "list_input_items"),
        Route("POST", _PATH + "/{id}/cancel", "cancel"),
    )

    def validate(self, engine: Engine, body: dict[str, Any], raw: bytes) -> list[FieldError]:
        """Every problem of a create body at once."""
        return request.problems(body)

    async def view(self, engine: Engine, body: dict[str, Any]) -> dict[str, Any]:
        """The neutral view, the earlier turn's items first."""
        return request.to_view(body, await state.context(engine.store, body), inherited=True)

    def answer(self, engine: Engine, call: Call) -> dict[str, Any]:
        """The ``response`` object (``background: true``: queued, done by the next GET)."""
        if call.body.get("background") and not call.body.get("stream"):
            return reply.response_object(call.body, reply_of(call.generated), [], status="queued")
        return self._final(call)

    def _final(self, call: Call) -> dict[str, Any]:
        """The finished ``response`` object."""
        neutral = reply_of(call.generated)
        output = reply.output_items(call.body, neutral, call.reply)
        return reply.response_object(call.body, neutral, output)

    def stream(self, engine: Engine, call: Call, timing: Mapping[str, Any]) -> EventStream:
        """The typed events of the response, cut as the reply's ``timing`` says."""
        neutral = reply_of(call.generated)
        final = self._final(call)
        snapshot = reply.response_object(call.body, neutral, [], status="in_progress")
        split = engine.generator.tokenizer_for(call.body.get("model")).split
        return stream.events(
            final,
            snapshot,
            split,
            str(timing.get("chunk", "tokens")),
            int(timing.get("chunk_size", 1)),
        )

    async def keep(self, engine: Engine, call: Call, answer: Mapping[str, Any]) -> None:
        """Store the response (unless ``store: false``) for later turns and retrieval."""
        if call.body.get("store") is not False:
            seen = await state.context(engine.store, call.body)
            pending = answer.get("status") == "queued"
            await state.keep(
                engine.store,
                call.body,
                self._final(call) if pending else answer,
                seen,
                pending=pending,
            )

    def error_body(self, error: APIError, dialect: ErrorDialect) -> dict[str, Any]:
        """OpenAI's envelope, whatever ``--error-dialect`` says (no ServiceStack form)."""
        return errors.error_body(error)

    # ------------------------------------------------------------ resource routes

    async def retrieve(self, engine: Engine, ask: Ask) -> tuple[int, Any]:
        """``GET /v1/responses/{id}`` (a queued background response is done by now)."""
        kept = await self._stored(engine, ask)
        if kept.get("pending"):
            await engine.store.put_object(
                state.RESPONSE, ask.params["id"], {**kept, "pending": False}
            )
        return 200, kept["response"]

    async def cancel(self, engine: Engine, ask: Ask) -> tuple[int, Any]:
        """``POST /v1/responses/{id}/cancel``: a background response not yet retrieved
        becomes ``cancelled``; any other is the API's 400."""
        kept = await self._stored(engine, ask)
        response = kept["response"]
        if not response.get("background"):
            raise BadRequestError(
                "Only responses created with background=true can be cancelled.",
                param=None,
                openai_code="invalid_request",
            )
        if not kept.get("pending") and response.get("status") != "cancelled":
            raise BadRequestError(
                f"Cannot cancel a response with status '{response.get('status')}'.",
                openai_code="invalid_request",
            )
        cancelled = {
            **response,
            "status": "cancelled",
            "completed_at": None,
            "output": [],
            "usage": None,
            "incomplete_details": None,
        }
        await engine.store.put_object(
            state.RESPONSE, ask.params["id"], {**kept, "response": cancelled, "pending": False}
        )
        return 200, cancelled

    async def delete(self, engine: Engine, ask: Ask) -> tuple[int, Any]:
        """``DELETE /v1/responses/{id}``."""
        response_id = ask.params["id"]
        if not await engine.store.delete_object(state.RESPONSE, response_id):
            raise errors.response_not_found(response_id)
        return 200, {"id": response_id, "object": "response", "deleted": True}

    async def list_input_items(self, engine: Engine, ask: Ask) -> tuple[int, Any]:
        """``GET /v1/responses/{id}/input_items``: newest first unless ``order=asc``."""
        items = list((await self._stored(engine, ask))["input"])
        order = ask.query.get("order", "desc")
        if order not in ("asc", "desc"):
            raise BadRequestError(
                f"Invalid value for 'order': {order!r}; use asc or desc.",
                param="order",
                openai_code="invalid_value",
            )
        if order == "desc":
            items.reverse()
        after = ask.query.get("after")
        if after is not None:
            ids = [item["id"] for item in items]
            items = items[ids.index(after) + 1 :] if after in ids else []
        limit = _limit(ask.query.get("limit"))
        page = items[:limit]
        return 200, {
            "object": "list",
            "data": page,
            "first_id": page[0]["id"] if page else None,
            "last_id": page[-1]["id"] if page else None,
            "has_more": len(items) > limit,
        }

    async def count_input_tokens(self, engine: Engine, ask: Ask) -> tuple[int, Any]:
        """``POST /v1/responses/input_tokens``: the input's tokens, as usage would count."""
        body = ask.body or {}
        view = request.to_view(body, await state.context(engine.store, body), inherited=True)
        counted = engine.generator.count_prompt(view).total
        return 200, {"object": "response.input_tokens", "input_tokens": counted}

    async def _stored(self, engine: Engine, ask: Ask) -> dict[str, Any]:
        response_id = ask.params["id"]
        kept = await state.stored(engine.store, response_id)
        if kept is None:
            raise errors.response_not_found(response_id)
        return kept


def _limit(given: str | None) -> int:
    """A list's ``limit`` (1-100, default 20)."""
    if given is None:
        return _DEFAULT_LIMIT
    if not given.isdigit() or not 1 <= int(given) <= _MAX_LIMIT:
        raise BadRequestError(
            f"Invalid 'limit': {given!r}; expected 1 to {_MAX_LIMIT}.",
            param="limit",
            openai_code="invalid_value",
        )
    return int(given)
