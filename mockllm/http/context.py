"""What the http layer keeps per app and per request: the server state and the trace.

``ServerState`` is everything one app owns, built once by ``create_app``; the mutable
part of it lives in its state store. ``Trace`` is what the pipeline learnt about one
request, for the journal. Both are reached through aiohttp's typed keys.
``add_post`` mounts a POST route, on aiohttp's router and in the lean lane's table.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from ..catalog import Catalog
from ..config import Settings
from ..ratelimit import RateLimiter
from ..recording import Recording
from ..reply_engine.generate import Generator
from ..reply_engine.seeding import DeferredFaker
from ..scenario_engine.loader import ScenarioLoader
from ..scenario_engine.scenarioset import ScenarioSet
from ..schemaset import SchemaSet
from ..state import StateStore
from ..surfaces import Surface
from ..validation import RequestValidator, ResponseValidator
from .leanio import AnyRequest
from .live import LiveFeed

__all__ = ["Handler", "STATE", "ServerState", "TRACE", "Trace", "add_post", "state_of"]

# A route's handler, served alike to aiohttp's requests and the lean lane's.
Handler = Callable[[AnyRequest], Awaitable[web.StreamResponse]]


@dataclass(slots=True)
class ServerState:
    """Everything one running app owns; built once by ``create_app``."""

    settings: Settings
    schemas: SchemaSet
    validator: RequestValidator
    response_validator: ResponseValidator
    generator: Generator
    # What each known model does (mockllm/catalog): replies, model errors, /v1/models.
    catalog: Catalog
    faker: DeferredFaker
    # The one loader (and condition registry) of the app: startup, reload, the
    # control API and the pytest handle all compile scenarios with it.
    loader: ScenarioLoader
    scenarios: ScenarioSet
    store: StateStore
    # None when no rate limit is configured, so the hot path skips it entirely.
    rate_limiter: RateLimiter | None = None
    # The worker's number under ``serve --workers`` (journaled as the ``worker`` tag).
    worker: int | None = None
    # The journal as it happens, for the browser view; idle unless someone listens.
    live: LiveFeed = field(default_factory=LiveFeed)
    # Forwarding to an upstream and recording what it says (None: never forwards;
    # the pytest handle sets one per test).
    recording: Recording | None = None
    # Request ids and the seeds of unseeded requests: random, but no system call each
    # (seeded from the OS once, in the process that serves).
    rng: random.Random = field(default_factory=random.Random)
    # The POST routes the lean lane serves itself (http/leanserver.py): a plain path
    # -> its handler, filled by add_post; every other request goes to aiohttp.
    lane_routes: dict[str, Handler] = field(default_factory=dict)

    async def reset(self) -> int:
        """Forget the journal and every counter: scenario uses, sequence positions,
        conversations and rate budgets (scenarios added at run time stay).
        Returns how many exchanges the journal dropped."""
        dropped = await self.store.reset()
        self.live.publish("cleared")
        return dropped

    async def clear_journal(self) -> int:
        """Forget every journal entry (counters stay); returns how many there were."""
        dropped = await self.store.clear_journal()
        self.live.publish("cleared")
        return dropped


STATE = web.AppKey("mockllm_state", ServerState)


def add_post(app: web.Application, path: str, handler: Handler) -> None:
    """Serve POST ``path`` with ``handler``: through aiohttp's router, and on the lean
    lane when the path is plain (no ``{placeholder}``). A surface mounts a route with
    this one call; the handler must take a :class:`~.leanio.LeanRequest` as well."""
    app.router.add_post(path, handler)
    if "{" not in path:
        app[STATE].lane_routes[path] = handler


def state_of(request: web.Request) -> ServerState:
    """The state of the app a request reached (also from the control sub-app)."""
    return request.config_dict[STATE]


@dataclass(slots=True)
class Trace:
    """What the pipeline learnt about one request, for the journal."""

    request_id: str
    started: float
    body: Any = None
    raw_body: str | None = None
    field_errors: tuple[Any, ...] = ()
    scenario: str | None = None
    near_misses: Sequence[Any] = ()
    response: Any = None
    stream: bool = False
    tags: dict[str, Any] = field(default_factory=dict)
    recorded: bool = False
    # The surface whose route the request came in on (None: no surface's, e.g. a 404):
    # it spells the error body, and the journal names it.
    surface: Surface | None = None


# aiohttp 3.14 types request storage keys; older releases take a plain string.
_REQUEST_KEY: Any = getattr(web, "RequestKey", None)
TRACE: Any = _REQUEST_KEY("mockllm_trace", Trace) if _REQUEST_KEY else "mockllm_trace"
