"""The chat completions surface: ``POST /v1/chat/completions`` and its ServiceStack forms.

Its request is the neutral view already (:mod:`.request`), its body the engine's
ChatResponse (:mod:`.reply`), its stream the engine's chunks framed as ``data:`` events
(:mod:`.stream`), its errors either envelope or both (:mod:`.errors`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from ...config import ErrorDialect
from ...errors import APIError, FieldError
from ..base import Call, Engine, EventStream, Route, Surface
from . import errors, reply, request, stream

__all__ = ["CHAT_PATHS", "ChatSurface"]

# The OpenAI path and the ServiceStack forms of the same operation (wire-format.md 1.1).
CHAT_PATHS: tuple[str, ...] = (
    "/v1/chat/completions",
    "/v1/chat/completions.{ext}",
    "/api/ChatCompletion",
    "/api/ChatCompletion.{ext}",
    "/{fmt}/reply/ChatCompletion",
)


class ChatSurface(Surface):
    """Chat completions, as the ServiceStack DTO and OpenAI's API spell them."""

    name: ClassVar[str] = "chat"
    routes: ClassVar[tuple[Route, ...]] = tuple(Route("POST", path) for path in CHAT_PATHS)
    jsonp: ClassVar[bool] = True
    records: ClassVar[bool] = True
    title: ClassVar[str] = "ChatCompletion"

    def validate(self, engine: Engine, body: dict[str, Any], raw: bytes) -> list[FieldError]:
        """Every problem of ``body`` against the ChatCompletion schema."""
        return request.validate(engine, body, raw)

    async def view(self, engine: Engine, body: dict[str, Any]) -> dict[str, Any]:
        """The body itself: chat is the neutral spelling."""
        return request.view(body)

    def answer(self, engine: Engine, call: Call) -> dict[str, Any]:
        """The engine's ChatResponse, as it is."""
        return call.generated

    def stream(self, engine: Engine, call: Call, timing: Mapping[str, Any]) -> EventStream:
        """``chat.completion.chunk`` events ending in ``data: [DONE]``."""
        return stream.events(engine.generator, call.body, call.generated, timing)

    async def keep(self, engine: Engine, call: Call, answer: Mapping[str, Any]) -> None:
        """A stored completion, when the request says ``store: true``."""
        if call.body.get("store"):
            await reply.keep(engine.store, call.body, answer)

    def error_body(self, error: APIError, dialect: ErrorDialect) -> dict[str, Any]:
        """``responseStatus``, ``error`` or both, as ``--error-dialect`` says."""
        return errors.error_body(error, dialect)
