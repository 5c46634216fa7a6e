"""What a surface is: the parts one API brings to the one pipeline.

A surface reads its API's request into the neutral request view (the body the scenario
conditions and the reply engine read), and writes the reply the engine built as its
API's JSON, stream and error envelope. The http layer runs the same steps for every
surface (read, validate, admit, resolve, generate, deliver, record) and asks the
surface at each step where the APIs differ. Nothing here imports aiohttp: a surface is
plain Python, tested with plain dicts.

The neutral request view is a body in the chat completions' spelling (``messages``,
``tools``, ``tool_choice``, ``response_format``, ``stream``, ``max_completion_tokens``,
``reasoning_effort``...), because that is the vocabulary the scenario conditions and the
reply spec were defined in; a surface translates its own fields into it. The neutral
reply is the reply engine's output, read through :mod:`.neutral`'s small typed view.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

from ..config import ErrorDialect, Settings
from ..errors import APIError, FieldError
from ..reply_engine.generate import Generator
from ..state import StateStore
from ..validation import RequestValidator

__all__ = ["Ask", "Call", "Engine", "EventStream", "Route", "Surface"]


@dataclass(frozen=True, slots=True)
class Route:
    """One route a surface serves: ``method`` and ``path`` (aiohttp's ``{name}``
    placeholders), and which of the surface's operations answers it.

    ``operation`` ``"generate"`` runs the whole pipeline (a model's reply); any other
    name is an ``async`` method of the surface, ``(engine, ask: Ask) -> (status, JSON)``,
    for the API's resource routes (retrieve, delete, list, count tokens...); it raises
    a ``APIError`` for a 4xx, which the surface's :meth:`Surface.error_body` spells.
    """

    method: str
    path: str
    operation: str = "generate"


class Engine(Protocol):
    """What of the running app a surface may use (the http layer's ``ServerState``)."""

    @property
    def settings(self) -> Settings:
        """The server's settings."""

    @property
    def validator(self) -> RequestValidator:
        """The compiled request schemas."""

    @property
    def generator(self) -> Generator:
        """The reply engine."""

    @property
    def store(self) -> StateStore:
        """The shared state (several workers share it on Redis)."""


@dataclass(frozen=True, slots=True)
class Ask:
    """A request to one of a surface's resource routes: the path's ``{name}`` parts,
    the query, the JSON body (None without one) and the headers."""

    method: str
    params: Mapping[str, str]
    query: Mapping[str, str]
    body: dict[str, Any] | None
    headers: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class Call:
    """One generation as a surface writes it: the body as sent, the neutral view of it,
    the rendered reply spec, and what the reply engine built for them."""

    body: Mapping[str, Any]
    view: Mapping[str, Any]
    reply: Mapping[str, Any]
    generated: dict[str, Any]
    # The request's id (``x-request-id``), which some APIs also put in the body.
    request_id: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)


class EventStream(Protocol):
    """A streamed answer as server-sent events, each already framed."""

    def __iter__(self) -> Iterator[bytes]:
        """Each event in order, framed (``data: ...\\n\\n``, or with ``event:``)."""

    def whole(self) -> bytes:
        """Every event and :attr:`end`, in one piece (an unpaced stream's one write)."""

    @property
    def end(self) -> bytes:
        """What follows the last event (chat's ``data: [DONE]``; may be empty)."""

    def error_event(self, error: APIError) -> bytes:
        """The event a stream ends with when it fails midway (the ``stream_error`` fault)."""

    def cut_event(self, event: bytes | None) -> bytes:
        """``event`` (or a placeholder) cut inside its JSON: the ``malformed_chunk`` fault."""


class Surface:
    """One API over the engine. Subclasses set :attr:`name` and :attr:`routes` and
    override the steps where their API differs; the defaults are chat completions'."""

    name: ClassVar[str] = ""
    routes: ClassVar[tuple[Route, ...]] = ()
    # Whether ``?callback=`` JSONP and ``.json``/``/json/reply/`` format paths apply.
    jsonp: ClassVar[bool] = False
    # Whether a recording server forwards this surface's misses upstream.
    records: ClassVar[bool] = False
    # Whether OpenAI's automatic prompt cache (``cached_tokens``) applies to its requests.
    automatic_prompt_cache: ClassVar[bool] = True
    # What a missing or unknown route of this surface is called in messages.
    title: ClassVar[str] = ""

    def validate(self, engine: Engine, body: dict[str, Any], raw: bytes) -> list[FieldError]:
        """Every problem of ``body`` at once (empty when it is valid)."""
        raise NotImplementedError

    def validate_request(
        self,
        engine: Engine,
        body: dict[str, Any],
        raw: bytes,
        headers: Mapping[str, str],
        query: Mapping[str, str],
    ) -> list[FieldError]:
        """:meth:`validate`, for an API whose rules also read the request's headers or
        query (a version header, a beta path); may raise a ``APIError`` (a 401)."""
        return self.validate(engine, body, raw)

    async def view(self, engine: Engine, body: dict[str, Any]) -> dict[str, Any]:
        """The neutral request view of ``body`` (module docstring). May read the store
        (an earlier turn of a conversation); a problem raises a ``APIError``."""
        raise NotImplementedError

    async def prepare(
        self, engine: Engine, body: Mapping[str, Any], view: Mapping[str, Any]
    ) -> Mapping[str, Any]:
        """What the answer needs from the store besides the reply (a prompt cache's
        counts), handed to :meth:`answer` as ``Call.extra``; by default nothing."""
        return {}

    def answer(self, engine: Engine, call: Call) -> dict[str, Any]:
        """The API's JSON body for a generated reply."""
        raise NotImplementedError

    def stream(self, engine: Engine, call: Call, timing: Mapping[str, Any]) -> EventStream:
        """The API's stream of a generated reply, cut as ``timing`` says."""
        raise NotImplementedError

    async def keep(self, engine: Engine, call: Call, answer: Mapping[str, Any]) -> None:
        """Store what the API keeps of an answer (a stored response); by default nothing."""

    def error_body(self, error: APIError, dialect: ErrorDialect) -> dict[str, Any]:
        """The API's error envelope for ``error``."""
        raise NotImplementedError

    def error_response(
        self, error: APIError, dialect: ErrorDialect, request_id: str
    ) -> tuple[dict[str, Any], dict[str, str]]:
        """The error's body and headers; by default :meth:`error_body` and the error's
        own headers (an API that puts the request id in its envelope overrides this)."""
        return self.error_body(error, dialect), dict(error.headers)

    def reply_headers(self, request_id: str, limits: Mapping[str, str]) -> dict[str, str]:
        """The headers of an answer besides the reply's own: by default the rate
        limiter's (``x-ratelimit-*``), as OpenAI spells them."""
        return dict(limits)
