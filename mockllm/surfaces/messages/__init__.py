"""Anthropic's Messages API (``POST /v1/messages``) as a surface over the same engines.

``schema`` validates a body against the schemas generated from Anthropic's published
OpenAPI document; ``request`` reads a body into the neutral view the scenario conditions
and the reply engine see; ``reply`` writes the engine's reply as a ``Message``;
``stream`` writes it as Anthropic's server-sent events; ``caching`` simulates the prompt
cache through the state store; ``errors`` is the table of Anthropic's error types and
statuses and its envelope; ``headers`` reads the API's request headers (auth, version,
beta) and writes its response headers. docs/messages.md says what a client gets.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

from ...config import ErrorDialect
from ...errors import APIError, FieldError, RequestValidationError
from ..base import Ask, Call, Engine, Route, Surface
from . import caching, errors, headers, request, stream
from .reply import Caching, build_message
from .schema import MessagesSchemas

__all__ = ["MESSAGES_PATHS", "MessagesEvents", "MessagesSurface"]

# Where each client sends a Messages request: the SDKs, LangChain, LiteLLM and Claude
# Code append /v1/messages to a base without /v1; the Vercel AI SDK appends /messages to
# one with it; LiteLLM given a base ending in /v1 asks for /v1/v1/messages.
MESSAGES_PATHS: tuple[str, ...] = ("/v1/messages", "/messages", "/v1/v1/messages")


class MessagesEvents:
    """The events of one Messages stream (an ``EventStream``): no end marker."""

    __slots__ = ("framed",)

    end = b""

    def __init__(self, framed: list[bytes]) -> None:
        self.framed = framed

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.framed)

    def whole(self) -> bytes:
        """Every event in one piece."""
        return b"".join(self.framed)

    def error_event(self, error: APIError) -> bytes:
        """The ``error`` event the API ends a failing stream with."""
        return stream.frame_error(error)

    def cut_event(self, event: bytes | None) -> bytes:
        """``event`` cut inside its JSON, as a broken proxy passes it on."""
        if event is None:
            event = stream.frame({"type": "ping"})
        return event[:-6] + b"\n\n"


class MessagesSurface(Surface):
    """Anthropic's Messages API: create (JSON and streamed), count_tokens and Claude
    Code's probes (the models list answers Anthropic's clients in their shape:
    ``http/models.py``)."""

    name: ClassVar[str] = "messages"
    # Anthropic caches only what cache_control marks (:mod:`.caching`).
    automatic_prompt_cache: ClassVar[bool] = False
    title: ClassVar[str] = "Messages request"
    routes: ClassVar[tuple[Route, ...]] = (
        *(Route("POST", path) for path in MESSAGES_PATHS),
        *(Route("POST", f"{path}/count_tokens", "count_tokens") for path in MESSAGES_PATHS),
        Route("GET", "/api/hello", "hello"),
        Route("HEAD", "/api/hello", "hello"),
        Route("POST", "/api/event_logging/batch", "hello"),
    )

    def __init__(self) -> None:
        self._schemas: MessagesSchemas | None = None

    def _check(self, engine: Engine, root: str, body: Any) -> list[FieldError]:
        if self._schemas is None:
            self._schemas = MessagesSchemas(engine.settings.validation)
        return self._schemas.check(root, body)

    def validate(self, engine: Engine, body: dict[str, Any], raw: bytes) -> list[FieldError]:
        """Every problem of ``body`` against ``CreateMessageParams``."""
        return self._check(engine, "CreateMessageParams", body)

    def validate_request(
        self,
        engine: Engine,
        body: dict[str, Any],
        raw: bytes,
        asked: Mapping[str, str],
        query: Mapping[str, str],
    ) -> list[FieldError]:
        """Auth and ``anthropic-version`` first (401, 400), then the body against the
        beta or the GA schema, as the path and ``anthropic-beta`` say, then the rules of
        the version it names and the prompt cache's limit."""
        version = headers.check(asked)
        root = (
            "BetaCreateMessageParams" if headers.is_beta(asked, query) else ("CreateMessageParams")
        )
        problems = self._check(engine, root, body)
        if not problems:
            problems = headers.version_rules(version, body)
        if not problems:
            caching.check_breakpoints(body)
            request.check_thinking(body)
        return problems

    async def view(self, engine: Engine, body: dict[str, Any]) -> dict[str, Any]:
        """The neutral view (``request.neutral_view``)."""
        return request.neutral_view(body)

    async def prepare(
        self, engine: Engine, body: Mapping[str, Any], view: Mapping[str, Any]
    ) -> Mapping[str, Any]:
        """Read and write the prompt cache for this generation."""

        def count(prefix: Mapping[str, Any]) -> int:
            return engine.generator.count_prompt(request.neutral_view(prefix)).total

        return {"caching": await caching.simulate(engine.store, body, count)}

    def answer(self, engine: Engine, call: Call) -> dict[str, Any]:
        """The ``Message``."""
        cached = call.extra.get("caching")
        return build_message(
            call.body,
            call.generated,
            call.reply,
            engine.generator.tokenizer_for(call.view.get("model")),
            cached if isinstance(cached, Caching) else Caching(),
        )

    def stream(self, engine: Engine, call: Call, timing: Mapping[str, Any]) -> MessagesEvents:
        """The ``Message``'s events, cut as ``timing`` says."""
        return MessagesEvents(
            stream.events(
                self.answer(engine, call),
                engine.generator.tokenizer_for(call.view.get("model")),
                chunking=str(timing.get("chunk", "tokens")),
                chunk_size=int(timing.get("chunk_size", 1)),
            )
        )

    def reply_headers(self, request_id: str, limits: Mapping[str, str]) -> dict[str, str]:
        """``request-id`` and the ``anthropic-ratelimit-*`` headers."""
        return headers.reply_headers(request_id, limits)

    def error_body(self, error: APIError, dialect: ErrorDialect) -> dict[str, Any]:
        """Anthropic's envelope (the request id is added by :meth:`error_response`)."""
        return errors.error_body(error, None)

    def error_response(
        self, error: APIError, dialect: ErrorDialect, request_id: str
    ) -> tuple[dict[str, Any], dict[str, str]]:
        """The envelope with the request id, and the error's headers in Anthropic's
        spelling (``retry-after``, ``anthropic-ratelimit-*``, ``request-id``)."""
        return (
            errors.error_body(error, request_id),
            headers.reply_headers(request_id, error.headers),
        )

    async def count_tokens(self, engine: Engine, ask: Ask) -> tuple[int, dict[str, Any]]:
        """``{"input_tokens": N}``: the same count as the usage of a create call
        (``input_tokens`` + both cache counts); never writes the cache."""
        headers.check(ask.headers)
        body = ask.body or {}
        root = (
            "BetaCountMessageTokensParams"
            if headers.is_beta(ask.headers, ask.query)
            else ("CountMessageTokensParams")
        )
        problems = self._check(engine, root, body)
        if problems:
            raise RequestValidationError(problems)
        view = request.neutral_view(body)
        return 200, {"input_tokens": engine.generator.count_prompt(view).total}

    async def hello(self, engine: Engine, ask: Ask) -> tuple[int, dict[str, Any]]:
        """Claude Code's start-up probe and its telemetry: a plain 200."""
        return 200, {}
