"""``create_app(settings)``: the aiohttp application of mockllm.

The factory builds every expensive object once (or takes them from ``parts``), the
state store, the one scenario loader and condition registry of the app, and mounts
the routes: every surface's (``mockllm/surfaces/``, through :mod:`.pipeline`),
models (:mod:`.models`), the control API (:mod:`.control`) and CORS. The CLI, the
background-thread server and ``aiohttp_client`` tests all build the app through this
one factory.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from ..catalog import Catalog, load_catalog
from ..config import Settings
from ..errors import StateUnavailableError
from ..ratelimit import RateLimiter
from ..recording import Recording
from ..reply_engine.generate import Generator
from ..reply_engine.lexicon import Lexicons
from ..reply_engine.seeding import DeferredFaker
from ..scenario_engine.conditions import MatcherRegistry, default_registry
from ..scenario_engine.loader import ScenarioLoader, ScenarioWatcher
from ..scenario_engine.scenarioset import ScenarioSet
from ..scenario_engine.templating import TemplateEngine
from ..schemaset import SchemaSet
from ..state import StateStore, open_store
from ..surfaces import builtin_surfaces
from ..validation import RequestValidator, ResponseValidator
from . import models, pipeline
from .completions import setup_completions
from .context import STATE, ServerState, add_post
from .control import setup_control
from .cors import setup_cors
from .live import LiveFeed
from .middleware import CONTROL_PREFIX, error_middleware
from .upstream import UPSTREAM, Upstream

__all__ = ["AppParts", "create_app"]

log = logging.getLogger("mockllm")


@dataclass(frozen=True, slots=True)
class AppParts:
    """The expensive parts of an app: compiled schemas, the tokenizers and sentence
    pools of the encodings (each loaded when a model first needs it) and the shipped
    model catalog. Apps of one process may share them; the pytest plugin does, so each
    async test's fresh app starts in milliseconds."""

    schemas: SchemaSet
    lexicons: Lexicons
    catalog: Catalog

    @classmethod
    def build(cls) -> AppParts:
        """Load and compile the schemas and the catalog; the encodings load on first use."""
        return cls(SchemaSet.load(), Lexicons(), load_catalog())


def create_app(
    settings: Settings | None = None,
    *,
    parts: AppParts | None = None,
    registry: MatcherRegistry | None = None,
    store: StateStore | None = None,
) -> web.Application:
    """Build the application; every expensive object is made here (or in ``parts``), once.

    ``registry`` holds the scenario conditions (custom ones included) for every way
    scenarios arrive: the files at startup, ``--reload``, the control API and the
    pytest handle. ``store`` holds the shared state (default: this process's memory).
    """
    settings = settings or Settings()
    parts = parts or AppParts.build()
    schemas = parts.schemas
    faker = DeferredFaker("en_US")
    store = (
        store
        if store is not None
        else open_store(
            settings.state, prefix=settings.state_prefix, journal_size=settings.journal_size
        )
    )
    loader = ScenarioLoader(
        registry or default_registry(), TemplateEngine(settings.max_reply_chars)
    )
    catalog = _catalog(settings, parts.catalog)
    limiter = RateLimiter(
        settings.rate_limit_rpm, settings.rate_limit_tpm, settings.rate_limit_per_key, store=store
    )
    state = ServerState(
        settings=settings,
        schemas=schemas,
        validator=RequestValidator(schemas, settings.validation),
        response_validator=ResponseValidator(schemas),
        generator=Generator(
            faker, lexicons=parts.lexicons, catalog=catalog, auto_tools=settings.auto_tools
        ),
        catalog=catalog,
        faker=faker,
        loader=loader,
        scenarios=ScenarioSet(
            _initial_scenarios(settings, loader),
            strict=settings.strict,
            store=store,
            compile=loader.load_runtime,
        ),
        store=store,
        rate_limiter=limiter if limiter.enabled else None,
        recording=Recording.from_settings(settings),
        live=LiveFeed(store.follow_journal),
    )
    app = web.Application(middlewares=[error_middleware], client_max_size=settings.max_body_bytes)
    app[STATE] = state
    app[UPSTREAM] = Upstream()
    for surface in builtin_surfaces():
        for route in surface.routes:
            handler = pipeline.handler(surface, route.operation)
            if route.method == "POST":  # on the lean lane too, when the path is plain
                add_post(app, route.path, handler)
            else:
                app.router.add_route(route.method, route.path, handler)
    app.router.add_get("/v1/models", models.list_models)
    app.router.add_get("/v1/models/{model}", models.get_model)
    app.router.add_get("/", models.index)
    setup_completions(app)
    setup_control(app)
    if settings.cors:
        # Last: it answers preflights on every route added above.
        setup_cors(app, private_prefix=CONTROL_PREFIX)
    app.cleanup_ctx.append(_follow_store)
    if settings.reload and settings.scenario_paths:
        app.cleanup_ctx.append(_watch_scenarios)
    return app


def _catalog(settings: Settings, shipped: Catalog) -> Catalog:
    """The shipped catalog, with the scenario files' ``models:`` sections and
    ``--models FILE`` merged over it when there are any."""
    if settings.scenario_paths or settings.models_file is not None:
        return load_catalog(
            settings.scenario_paths, settings.models_file, strict=settings.strict_models
        )
    return shipped.with_strict(settings.strict_models) if settings.strict_models else shipped


def _initial_scenarios(settings: Settings, loader: ScenarioLoader) -> list[Any]:
    """The scenario files named, else the built-in ones; strict mode without files starts
    empty, since the built-in catch-all would otherwise answer every request (scenarios
    then come from the control API or the pytest plugin)."""
    if settings.strict and not settings.scenario_paths:
        return []
    return loader.load_paths(settings.scenario_paths)


async def _follow_store(app: web.Application) -> Any:
    """Take the scenarios other processes added to a shared store, now and on change;
    close the store when the app stops."""
    state = app[STATE]
    tasks: set[asyncio.Task[None]] = set()

    async def refresh() -> None:
        try:
            await state.scenarios.refresh()
        except StateUnavailableError as exc:
            # The store tells again once it is back; meanwhile the last set serves.
            log.warning("mockllm: scenarios not refreshed: %s", exc.message)

    def changed() -> None:
        task = asyncio.get_running_loop().create_task(refresh())
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    await refresh()
    state.store.watch_scenarios(changed)
    yield
    for task in tasks:
        task.cancel()
    await app[UPSTREAM].close()
    await state.store.close()


async def _watch_scenarios(app: web.Application) -> Any:
    """--reload: poll the scenario files; a broken change keeps the last good set serving."""
    state = app[STATE]
    watcher = ScenarioWatcher(state.settings.scenario_paths, state.loader)

    async def poll() -> None:
        while True:
            await asyncio.sleep(0.5)
            changed = watcher.changed_files()
            if not changed:
                continue
            problem = await watcher.reload(state.scenarios)
            if problem is None:
                log.info("reloaded scenarios: %s", ", ".join(str(p) for p in changed))
            else:
                log.error("scenario reload refused, the last good set keeps serving: %s", problem)

    task = asyncio.create_task(poll())
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
