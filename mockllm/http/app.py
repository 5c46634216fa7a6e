"""``create_app(settings)``: the aiohttp application of mockllm.

Routes, content negotiation and the error middleware live here; every decision
about a body is delegated to the plain-Python modules (validation, matching,
generate, streaming, render). One request, end to end, is in docs/design.md.
The CLI, the background-thread server and ``aiohttp_client`` tests all build the
app through this one factory.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import hdrs, web
from faker import Faker

from ..config import Settings
from ..errors import (
    BadRequestError,
    InvalidBodyError,
    MethodNotAllowedError,
    MockLLMError,
    NotAcceptableError,
    NotFoundError,
    PayloadTooLargeError,
    RequestValidationError,
    UnsupportedMediaTypeError,
)
from ..journal import Exchange, Journal
from ..ratelimit import RateLimiter, bearer_token
from ..reply_engine import streaming
from ..reply_engine.generate import Generator
from ..reply_engine.seeding import LazySeededFaker, request_seed
from ..reply_engine.textgen import TextGenerator
from ..reply_engine.tokens import Tokenizer, load_tokenizer
from ..scenario_engine.conditions import RequestView, parse_overrides
from ..scenario_engine.loader import ScenarioWatcher, load_scenarios
from ..scenario_engine.scenarioset import ScenarioSet
from ..schemaset import SchemaSet
from ..validation import RequestValidator, ResponseValidator
from . import delivery, wire
from .control import ADMIN_PREFIX, setup_admin
from .cors import setup_cors

__all__ = ["AppParts", "CHAT_PATHS", "STATE", "ServerState", "create_app"]

log = logging.getLogger("mockllm")

# The OpenAI path and the ServiceStack forms of the same operation (wire-format.md 1.1).
CHAT_PATHS: tuple[str, ...] = (
    "/v1/chat/completions",
    "/v1/chat/completions.{ext}",
    "/api/ChatCompletion",
    "/api/ChatCompletion.{ext}",
    "/{fmt}/reply/ChatCompletion",
)

_JSON_TYPES = frozenset({"application/json", "text/json"})
# Media ranges in Accept that a JSON (or SSE, or JSONP) answer satisfies.
_ACCEPTABLE = frozenset({
    "*/*", "application/*", "application/json", "text/json", "text/event-stream", "text/*",
    "application/javascript", "text/javascript",
})


@dataclass(slots=True)
class ServerState:
    """Everything one running app owns; built once by ``create_app``."""

    settings: Settings
    schemas: SchemaSet
    validator: RequestValidator
    response_validator: ResponseValidator
    generator: Generator
    faker: Faker
    scenarios: ScenarioSet
    journal: Journal
    # None when no rate limit is configured, so the hot path skips it entirely.
    rate_limiter: RateLimiter | None = None

    def reset(self) -> int:
        """Forget the journal and every counter: scenario uses, sequence positions,
        conversations and rate budgets (scenarios added at run time stay).
        Returns how many exchanges the journal dropped."""
        cleared = self.journal.clear()
        self.scenarios.reset_state()
        if self.rate_limiter is not None:
            self.rate_limiter.reset()
        return cleared


STATE = web.AppKey("mockllm_state", ServerState)


@dataclass(slots=True)
class _Trace:
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


# aiohttp 3.14 types request storage keys; older releases take a plain string.
_REQUEST_KEY: Any = getattr(web, "RequestKey", None)
_TRACE: Any = _REQUEST_KEY("mockllm_trace", _Trace) if _REQUEST_KEY else "mockllm_trace"


@dataclass(frozen=True, slots=True)
class AppParts:
    """The expensive, read-only parts of an app (about a second to build): compiled
    schemas, the tokenizer and the sentence pool. Apps of one process may share them;
    the pytest plugin does, so each async test's fresh app starts in milliseconds."""

    schemas: SchemaSet
    tokenizer: Tokenizer
    text: TextGenerator

    @classmethod
    def build(cls) -> AppParts:
        """Load and compile everything once."""
        tokenizer = load_tokenizer()
        return cls(SchemaSet.load(), tokenizer, TextGenerator.english(tokenizer))


def create_app(settings: Settings | None = None, *, parts: AppParts | None = None,
               ) -> web.Application:
    """Build the application; every expensive object is made here (or in ``parts``), once."""
    settings = settings or Settings()
    parts = parts or AppParts.build()
    schemas = parts.schemas
    faker = Faker("en_US")
    limiter = RateLimiter(settings.rate_limit_rpm, settings.rate_limit_tpm,
                          settings.rate_limit_per_key)
    state = ServerState(
        settings=settings,
        schemas=schemas,
        validator=RequestValidator(schemas, settings.validation),
        response_validator=ResponseValidator(schemas),
        generator=Generator(faker, tokenizer=parts.tokenizer, text=parts.text),
        faker=faker,
        scenarios=ScenarioSet(_initial_scenarios(settings), strict=settings.strict),
        journal=Journal(settings.journal_size),
        rate_limiter=limiter if limiter.enabled else None,
    )
    app = web.Application(middlewares=[_error_middleware],
                          client_max_size=settings.max_body_bytes)
    app[STATE] = state
    for path in CHAT_PATHS:
        app.router.add_post(path, _chat_completions)
    app.router.add_get("/v1/models", _list_models)
    app.router.add_get("/v1/models/{model}", _get_model)
    app.router.add_get("/", _index)
    setup_admin(app)
    if settings.cors:
        # Last: it answers preflights on every route added above.
        setup_cors(app, private_prefix=ADMIN_PREFIX)
    if settings.reload and settings.scenario_paths:
        app.cleanup_ctx.append(_watch_scenarios)
    return app


async def _watch_scenarios(app: web.Application) -> Any:
    """--reload: poll the scenario files; a broken change keeps the last good set serving."""
    state = app[STATE]
    watcher = ScenarioWatcher(state.settings.scenario_paths,
                              max_reply_chars=state.settings.max_reply_chars)

    async def poll() -> None:
        while True:
            await asyncio.sleep(0.5)
            changed = watcher.changed_files()
            if not changed:
                continue
            problem = watcher.reload(state.scenarios)
            if problem is None:
                log.info("reloaded scenarios: %s", ", ".join(str(p) for p in changed))
            else:
                log.error("scenario reload refused, the last good set keeps serving: %s",
                          problem)

    task = asyncio.create_task(poll())
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def _initial_scenarios(settings: Settings) -> list[Any]:
    """The scenario files named, else the built-in ones; strict mode without files starts
    empty, since the built-in catch-all would otherwise answer every request (scenarios
    then come from the control API or the pytest plugin)."""
    if settings.strict and not settings.scenario_paths:
        return []
    return load_scenarios(settings.scenario_paths, max_reply_chars=settings.max_reply_chars)


# --------------------------------------------------------------------------- middleware


@web.middleware
async def _error_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Turn every failure into an error body in the configured dialect, and journal it."""
    state = request.app[STATE]
    trace = _Trace(request_id="req_" + os.urandom(12).hex(), started=time.perf_counter())
    request[_TRACE] = trace
    error: MockLLMError | None = None
    try:
        response = await handler(request)
    except MockLLMError as exc:
        error = exc
    except web.HTTPException as exc:
        error = _from_http_exception(request, exc)
    except ConnectionResetError as exc:
        # The client went away (e.g. while sending its body). Returning a response that
        # cannot be sent lets aiohttp drop the connection quietly instead of logging an
        # error for what is a normal event.
        trace.tags.setdefault("disconnected", str(exc))
        response = web.Response(status=delivery.CLOSED)
    except Exception as exc:  # a bug in mockllm: answer 500, log it, keep serving
        log.exception("mockllm failed on %s %s", request.method, request.path)
        error = MockLLMError(f"mockllm internal error: {type(exc).__name__}: {exc}")
    if error is not None:
        response = _error_response(request, state, error)
    if not response.prepared:
        response.headers["x-request-id"] = trace.request_id
    if not trace.recorded and not request.path.startswith(ADMIN_PREFIX):
        _record(request, state, trace, response.status, error)
    return response


def _from_http_exception(request: web.Request, exc: web.HTTPException) -> MockLLMError:
    """aiohttp's own 404/405/413... as mockllm errors with a useful message."""
    if exc.status == 404:
        return NotFoundError(
            f"No route for {request.method} {request.path}. mockllm serves POST "
            "/v1/chat/completions (also /api/ChatCompletion, /json/reply/ChatCompletion), "
            "GET /v1/models and the control API under /__mockllm/. With the openai SDK, "
            "base_url must end in /v1."
        )
    if exc.status == 405:
        allowed = getattr(exc, "allowed_methods", None) or ()
        allow = ", ".join(sorted(allowed))
        return MethodNotAllowedError(
            f"{request.method} is not allowed on {request.path}; use {allow or 'POST'}.",
            headers={"Allow": allow} if allow else None,
        )
    if exc.status == 413:
        return PayloadTooLargeError(
            f"The request body is larger than the limit of "
            f"{request.app[STATE].settings.max_body_bytes} bytes (MOCKLLM_MAX_BODY_BYTES)."
        )
    return MockLLMError(exc.reason or "HTTP error", status=exc.status,
                        error_code=exc.reason.replace(" ", "") if exc.reason else None)


def _error_response(request: web.Request, state: ServerState,
                    error: MockLLMError) -> web.Response:
    body = wire.dumps(wire.error_body(error, state.settings.error_dialect))
    headers = dict(error.headers)
    callback = request.query.get("callback")
    if callback is not None and wire.is_safe_callback(callback):
        # ServiceStack answers JSONP errors with 200, so the script tag's callback runs.
        return web.Response(body=wire.jsonp(callback, body), status=200,
                            content_type="application/javascript", headers=headers)
    return web.Response(body=body, status=error.status, content_type="application/json",
                        headers=headers)


def _record(request: web.Request, state: ServerState, trace: _Trace, status: int,
            error: MockLLMError | None) -> None:
    trace.recorded = True
    journal = state.journal
    exchange = Exchange(
        seq=journal.next_seq(),
        request_id=trace.request_id,
        time=time.time(),
        method=request.method,
        path=request.path,
        # The request's own read-only mappings: no copy on the hot path.
        query=request.query,
        headers=request.headers,
        body=trace.body,
        raw_body=trace.raw_body,
        field_errors=trace.field_errors,
        scenario=trace.scenario,
        near_misses=trace.near_misses,
        status=status,
        response=trace.response,
        error=error.message if error is not None else None,
        error_code=error.error_code if error is not None else None,
        stream=trace.stream,
        duration_ms=(time.perf_counter() - trace.started) * 1000.0,
        tags=trace.tags,
    )
    journal.record(exchange)
    if log.isEnabledFor(logging.INFO):
        log.info(exchange.log_line(state.settings.verbose))


# --------------------------------------------------------------------------- chat


def _negotiate(request: web.Request) -> str | None:
    """Check the asked-for format; return the JSONP callback, if any."""
    asked = [request.match_info.get("ext"), request.match_info.get("fmt"),
             request.query.get("format")]
    for fmt in asked:
        if fmt is not None and fmt.split(".")[0].lower() != "json":
            raise NotAcceptableError(
                f"mockllm answers in JSON only; the format {fmt!r} is not supported.")
    accept = request.headers.get(hdrs.ACCEPT)
    if accept and not _accepts_json(accept):
        raise NotAcceptableError(
            f"Accept: {accept} names no format mockllm can write; "
            "use application/json (or text/event-stream for streams).")
    callback = request.query.get("callback")
    if callback is not None and not wire.is_safe_callback(callback):
        raise BadRequestError(
            "The JSONP callback must be a JavaScript identifier path such as handleReply "
            "or app.onReply.", param="callback", error_code="InvalidCallback")
    return callback


def _accepts_json(accept: str) -> bool:
    if accept in _ACCEPTABLE:  # what SDKs send: one plain media range
        return True
    for item in accept.split(","):
        media, *params = (part.strip().lower() for part in item.split(";"))
        if any(p.replace(" ", "") in {"q=0", "q=0.0", "q=0.00", "q=0.000"} for p in params):
            continue
        if media in _ACCEPTABLE or media.endswith("+json"):
            return True
    return False


async def _read_body(request: web.Request, trace: _Trace, max_bytes: int) -> dict[str, Any]:
    if hdrs.CONTENT_TYPE in request.headers:
        ctype = request.content_type
        if ctype not in _JSON_TYPES and not ctype.endswith("+json"):
            raise UnsupportedMediaTypeError(
                f"Content-Type {ctype} is not supported; send the ChatCompletion as JSON with "
                "Content-Type: application/json (with curl: -H 'Content-Type: application/json').")
    if request.content_length is not None and request.content_length > max_bytes:
        raise PayloadTooLargeError(
            f"The request body is {request.content_length} bytes; the limit is {max_bytes} "
            "bytes (MOCKLLM_MAX_BODY_BYTES).")
    raw = await request.read()
    if not raw.strip():
        raise InvalidBodyError("The request body is empty; send a ChatCompletion JSON object.")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        trace.raw_body = raw[:2000].decode("utf-8", "replace")
        raise InvalidBodyError(f"The request body is not valid JSON: {exc}.") from None
    if not isinstance(body, dict):
        trace.raw_body = raw[:2000].decode("utf-8", "replace")
        raise InvalidBodyError(
            f"The request body must be a JSON object (a ChatCompletion), not "
            f"{_json_kind(body)}.")
    trace.body = body
    return body


# Stands in for the timing/fault generator when a reply has neither: never drawn from.
_NO_DICE = random.Random(0)


def _json_kind(value: Any) -> str:
    return {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number")


async def _chat_completions(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    settings = state.settings
    trace: _Trace = request[_TRACE]
    callback = _negotiate(request)
    body = await _read_body(request, trace, settings.max_body_bytes)

    field_errors = state.validator.validate(body)
    if field_errors:
        trace.field_errors = tuple(field_errors)
        raise RequestValidationError(field_errors)
    if callback is not None and body.get("stream"):
        raise BadRequestError("JSONP cannot carry a stream; drop ?callback= or stream.",
                              param="stream")
    model = body.get("model")
    if not settings.any_model and model not in settings.models:
        raise NotFoundError(
            f"The model `{model}` does not exist or you do not have access to it.",
            openai_code="model_not_found", param="model")
    limits: Mapping[str, str] = {}
    limiter = state.rate_limiter
    if limiter is not None:  # after validation: a rejected body spends no budget
        tokens = state.generator.count_prompt(body).total if limiter.counts_tokens else 0
        key = bearer_token(request.headers.get(hdrs.AUTHORIZATION))
        decision = limiter.check(key, tokens, time.monotonic(), model=str(model))
        decision.raise_if_refused()
        limits = decision.headers

    overrides = parse_overrides(request.headers, request.query)
    view = RequestView(body, request.headers, request.path)
    try:
        resolution = state.scenarios.resolve(view, force=overrides.scenario)
    except MockLLMError as exc:
        trace.near_misses = tuple(exc.details.get("near_misses", ()))
        raise
    trace.scenario = resolution.scenario_name
    trace.near_misses = resolution.deferred_near_misses()

    seed = request_seed(body, override=overrides.seed, server_seed=settings.seed)
    reply = resolution.render(LazySeededFaker(state.faker, seed.seed)) or {}
    reply_body = state.generator.generate(body, reply, seed=seed.seed, created=seed.created)
    if settings.check_replies:
        problems = state.response_validator.validate(reply_body)
        if problems:
            raise MockLLMError(
                "mockllm built a reply that breaks the ChatResponse schema (check the "
                f"scenario {trace.scenario!r}): "
                + "; ".join(f"{p.param}: {p.message}" for p in problems))
    trace.response = reply_body
    headers = {**limits, **{str(k): str(v) for k, v in (reply.get("headers") or {}).items()}}
    headers["x-request-id"] = trace.request_id
    timing: Mapping[str, Any] = reply.get("timing") or {}
    # Timing jitter and fault dice have their own generator, made only when needed.
    rng = random.Random(seed.seed ^ 0x5EED) if timing or reply.get("fault") else _NO_DICE
    fault = delivery.pick_fault(reply.get("fault"), rng)
    if fault is not None:
        trace.tags["fault"] = fault.kind

    if body.get("stream"):
        trace.stream = True
        options = body.get("stream_options") or {}
        chunks = streaming.iter_chunks(
            reply_body,
            include_usage=bool(options.get("include_usage")),
            chunking=timing.get("chunk", "tokens"),
            chunk_size=int(timing.get("chunk_size", 1)),
            tokenizer=state.generator.tokenizer,
        )

        def on_end(complete: bool) -> None:
            # Journal the stream before its last bytes leave, so a client that has read
            # [DONE] always finds it (the middleware would record it only afterwards).
            if not complete:
                trace.response = None  # cut short by a fault: no whole reply was sent
            _record(request, state, trace, 200, None)

        return await delivery.send_stream(request, chunks, headers=headers, timing=timing,
                                          rng=rng, fault=fault, tags=trace.tags,
                                          on_end=on_end)
    payload, content_type = wire.dumps(reply_body), "application/json"
    if callback is not None:
        payload, content_type = wire.jsonp(callback, payload), "application/javascript"
    return await delivery.send_body(request, payload, content_type=content_type,
                                    headers=headers, timing=timing, rng=rng, fault=fault)


# --------------------------------------------------------------------------- models, index


def _model_object(model_id: str) -> dict[str, Any]:
    return {"id": model_id, "object": "model", "created": 1_700_000_000, "owned_by": "mockllm"}


async def _list_models(request: web.Request) -> web.Response:
    models = request.app[STATE].settings.models
    return web.json_response({"object": "list", "data": [_model_object(m) for m in models]},
                             dumps=lambda o: wire.dumps(o).decode())


async def _get_model(request: web.Request) -> web.Response:
    settings = request.app[STATE].settings
    model = request.match_info["model"]
    if model not in settings.models and not settings.any_model:
        raise NotFoundError(f"The model `{model}` does not exist or you do not have access to it.",
                            openai_code="model_not_found", param="model")
    return web.json_response(_model_object(model), dumps=lambda o: wire.dumps(o).decode())


async def _index(request: web.Request) -> web.Response:
    return web.json_response({
        "name": "mockllm",
        "chat_completions": "POST /v1/chat/completions",
        "models": "GET /v1/models",
        "openai_base_url": f"{request.scheme}://{request.host}/v1",
    })
