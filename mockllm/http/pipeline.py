"""One generation request through the pipeline, step by step, for any surface.

    read -> validate -> view -> admit -> resolve -> (prompt cache) -> generate -> (keep)
    -> deliver -> record
                        `-> forward (recording: upstream.py) -> record

Each step is one function below; :func:`generate_reply` runs them in order for the
surface (``mockllm/surfaces/``) whose route the request came in on, asking it where
the APIs differ: how its body validates, what its neutral view is, how its answer,
stream and errors are spelt. Every decision about a body is delegated to the
plain-Python layers (validation, the scenario engine, the reply engine, the rate
limiter); this module only moves data between them and aiohttp. ``record`` is the
middleware's (:func:`mockllm.http.middleware.record`), so a request that fails at any
step is journaled too. :func:`resource` answers a surface's other routes (retrieve,
delete, list...).
"""

from __future__ import annotations

import hashlib
import random
import time
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import orjson
from aiohttp import hdrs, web

from ..catalog import model_error
from ..errors import (
    APIError,
    BadRequestError,
    InvalidBodyError,
    NoScenarioMatchedError,
    NotAcceptableError,
    PayloadTooLargeError,
    RequestValidationError,
    UnsupportedMediaTypeError,
)
from ..ratelimit import bearer_token
from ..reply_engine.generate import PromptCache, cacheable_tokens
from ..reply_engine.seeding import LazySeededFaker, RequestSeed, request_seed
from ..scenario_engine.conditions import RequestView, parse_overrides
from ..scenario_engine.scenarioset import Resolution
from ..surfaces import Call, Surface
from ..surfaces.base import Ask
from . import delivery, upstream, wire
from .apiheaders import stamp
from .context import STATE, TRACE, Handler, ServerState, Trace
from .leanio import AnyRequest
from .middleware import json_response, record

__all__ = ["generate_reply", "handler", "resource"]

_JSON_TYPES = frozenset({"application/json", "text/json"})
# Media ranges in Accept that a JSON (or SSE, or JSONP) answer satisfies.
_ACCEPTABLE = frozenset(
    {
        "*/*",
        "application/*",
        "application/json",
        "text/json",
        "text/event-stream",
        "text/*",
        "application/javascript",
        "text/javascript",
    }
)


def handler(surface: Surface, operation: str) -> Handler:
    """The aiohttp handler of one of ``surface``'s routes."""
    if operation == "generate":

        async def generation(request: AnyRequest) -> web.StreamResponse:
            return await generate_reply(surface, request)

        return generation

    async def answer(request: AnyRequest) -> web.StreamResponse:
        return await resource(surface, operation, request)

    return answer


async def generate_reply(surface: Surface, request: AnyRequest) -> web.StreamResponse:
    """A model's reply through ``surface``: the pipeline's steps in order."""
    state = request.app[STATE]
    trace: Trace = request[TRACE]
    trace.surface = surface
    callback = negotiate(request, surface)
    raw, body = await read(request, trace, state.settings.max_body_bytes, surface.title)
    validate(request, state, trace, surface, raw, body, callback)
    view = await surface.view(state, body)
    check_model(state, view)
    limits = await admit(request, state, view)
    resolution, seed = await resolve(request, state, trace, surface, view)
    if resolution is None:
        return await forward(request, state, trace, body)
    reply = resolution.render(LazySeededFaker(state.faker, seed.seed)) or {}
    cache = await prompt_cache(state, view) if surface.automatic_prompt_cache else None
    call = Call(
        body,
        view,
        reply,
        generate(state, trace, view, reply, seed, cache),
        request_id=trace.request_id,
    )
    if type(surface).prepare is not Surface.prepare:  # only a surface that needs it
        call = replace(call, extra=await surface.prepare(state, body, view))
    answer = surface.answer(state, call)
    trace.response = answer
    await surface.keep(state, call, answer)
    return await deliver(request, state, trace, surface, call, answer, limits, callback, seed.seed)


async def resource(surface: Surface, operation: str, request: AnyRequest) -> web.StreamResponse:
    """One of ``surface``'s resource routes: the JSON its operation answers."""
    state = request.app[STATE]
    trace: Trace = request[TRACE]
    trace.surface = surface
    body: dict[str, Any] | None = None
    if request.method == "POST" and request.content_length:
        _, body = await read(request, trace, state.settings.max_body_bytes, surface.title)
    ask = Ask(
        method=request.method,
        params=dict(request.match_info),
        query=request.query,
        body=body,
        headers=request.headers,
    )
    status, data = await getattr(surface, operation)(state, ask)
    trace.response = data
    return json_response(data, status)


# --------------------------------------------------------------------------- read


def negotiate(request: AnyRequest, surface: Surface) -> str | None:
    """Check the asked-for format; return the JSONP callback, if any."""
    if surface.jsonp:
        asked = [
            request.match_info.get("ext"),
            request.match_info.get("fmt"),
            request.query.get("format"),
        ]
        for fmt in asked:
            if fmt is not None and fmt.split(".")[0].lower() != "json":
                raise NotAcceptableError(
                    f"mockllm answers in JSON only; the format {fmt!r} is not supported."
                )
    accept = request.headers.get(hdrs.ACCEPT)
    if accept and not _accepts_json(accept):
        raise NotAcceptableError(
            f"Accept: {accept} names no format mockllm can write; "
            "use application/json (or text/event-stream for streams)."
        )
    callback = request.query.get("callback") if surface.jsonp else None
    if callback is not None and not wire.is_safe_callback(callback):
        raise BadRequestError(
            "The JSONP callback must be a JavaScript identifier path such as handleReply "
            "or app.onReply.",
            param="callback",
            error_code="InvalidCallback",
        )
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


async def read(
    request: AnyRequest, trace: Trace, max_bytes: int, title: str = "ChatCompletion"
) -> tuple[bytes, dict[str, Any]]:
    """Content type, size limit and JSON parse: the body's bytes, and as a dict
    (``title`` names what the body should be, in messages)."""
    sent_type = request.headers.get(hdrs.CONTENT_TYPE)
    if sent_type is not None and sent_type != "application/json":  # what SDKs send
        ctype = request.content_type
        if ctype not in _JSON_TYPES and not ctype.endswith("+json"):
            raise UnsupportedMediaTypeError(
                f"Content-Type {ctype} is not supported; send the {title} as JSON with "
                "Content-Type: application/json (with curl: -H 'Content-Type: application/json')."
            )
    try:
        length = request.content_length
    except ValueError:  # more digits than int() reads: leading zeros, as llhttp allows
        length = None  # the parser framed the body; reading it checks the size
    if length is not None and length > max_bytes:
        raise PayloadTooLargeError(
            f"The request body is {length} bytes; the limit is {max_bytes} "
            "bytes (MOCKLLM_MAX_BODY_BYTES)."
        )
    raw = await request.read()
    if not raw.strip():
        raise InvalidBodyError(f"The request body is empty; send a {title} JSON object.")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        trace.raw_body = raw[:2000].decode("utf-8", "replace")
        raise InvalidBodyError(f"The request body is not valid JSON: {exc}.") from None
    if not isinstance(body, dict):
        trace.raw_body = raw[:2000].decode("utf-8", "replace")
        raise InvalidBodyError(
            f"The request body must be a JSON object (a {title}), not {_json_kind(body)}."
        )
    trace.body = body
    return raw, body


def _json_kind(value: Any) -> str:
    return {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number"
    )


# --------------------------------------------------------------------------- validate


def validate(
    request: AnyRequest,
    state: ServerState,
    trace: Trace,
    surface: Surface,
    raw: bytes,
    body: dict[str, Any],
    callback: str | None,
) -> None:
    """The body against the surface's schema (every problem at once), then what the
    schema cannot say: JSONP cannot stream."""
    field_errors = surface.validate_request(state, body, raw, request.headers, request.query)
    if field_errors:
        trace.field_errors = tuple(field_errors)
        raise RequestValidationError(field_errors)
    if callback is not None and body.get("stream"):
        raise BadRequestError(
            "JSONP cannot carry a stream; drop ?callback= or stream.", param="stream"
        )


def check_model(state: ServerState, view: dict[str, Any]) -> None:
    """With ``--strict-models``, the model errors of the API (``catalog.model_error``)
    for the neutral view of the request."""
    if state.catalog.strict:
        problem = model_error(state.catalog, view, lambda: state.generator.count_prompt(view).total)
        if problem is not None:
            raise problem


# --------------------------------------------------------------------------- admit


async def admit(request: AnyRequest, state: ServerState, view: dict[str, Any]) -> Mapping[str, str]:
    """Spend the rate budgets (after validation: a rejected body spends none); the
    ``x-ratelimit-*`` headers to send, or a 429."""
    limiter = state.rate_limiter
    if limiter is None:
        return {}
    tokens = state.generator.count_prompt(view).total if limiter.counts_tokens else 0
    # The API key: a bearer token, or Anthropic's x-api-key.
    key = bearer_token(request.headers.get(hdrs.AUTHORIZATION)) or request.headers.get("x-api-key")
    decision = await limiter.check(key, tokens, time.monotonic(), model=str(view.get("model")))
    decision.raise_if_refused()
    return decision.headers


# --------------------------------------------------------------------------- resolve


async def resolve(
    request: AnyRequest, state: ServerState, trace: Trace, surface: Surface, view: dict[str, Any]
) -> tuple[Resolution | None, Any]:
    """Which scenario answers (``Prefer: scenario=`` may force one) and the seed; no
    resolution when the request goes upstream instead (a recording server's miss)."""
    recording = state.recording if surface.records else None
    if recording is not None and recording.forwards(matched=True):
        return None, None  # record all: everything goes upstream
    forward_miss = recording is not None and recording.forwards(matched=False)
    overrides = parse_overrides(request.headers, request.query)
    request_view = RequestView(view, request.headers, request.path, surface=surface.name)
    try:
        resolution = await state.scenarios.resolve(request_view, force=overrides.scenario)
    except NoScenarioMatchedError:
        if not forward_miss:
            raise
        return None, None  # record missing: a miss goes upstream
    if forward_miss and resolution.scenario is None:
        return None, None
    trace.scenario = resolution.scenario_name
    trace.near_misses = resolution.deferred_near_misses()
    seed = request_seed(
        view, override=overrides.seed, server_seed=state.settings.seed, rng=state.rng
    )
    return resolution, seed


async def forward(
    request: AnyRequest, state: ServerState, trace: Trace, body: dict[str, Any]
) -> web.StreamResponse:
    """The upstream's answer, relayed unchanged and recorded (``http/upstream.py``)."""
    assert state.recording is not None  # resolve() forwards only for a recording server
    return await upstream.forward(request, state, trace, body, state.recording)


# --------------------------------------------------------------------------- generate


async def prompt_cache(state: ServerState, view: Mapping[str, Any]) -> PromptCache | None:
    """What OpenAI's prompt cache does with this prompt: a prompt of a catalog model of
    1,024 tokens or more, sent again within its retention, reads ``cached_tokens``; with
    ``prompt_cache_options`` the first sending reports ``cache_write_tokens``. Kept in
    the state store, so it holds across workers. None: nothing to report."""
    if state.catalog.get(view.get("model")) is None:
        return None  # a model the catalog does not know: usage as before
    cacheable = cacheable_tokens(state.generator.count_prompt(view).total)
    if not cacheable:
        return None
    key = hashlib.sha256(
        orjson.dumps(
            [
                view.get("model"),
                view.get("prompt_cache_key"),
                view.get("messages"),
                view.get("tools"),
            ],
            option=orjson.OPT_SORT_KEYS,
        )
    ).hexdigest()[:32]
    ttl = _CACHE_24H_S if view.get("prompt_cache_retention") == "24h" else _CACHE_TTL_S
    hit = await state.store.cache_prompt(key, ttl)
    if hit:
        return PromptCache(read=cacheable)
    return PromptCache(written=cacheable if view.get("prompt_cache_options") else None)


# How long a cached prompt is kept: OpenAI keeps in-memory prefixes 5-10 minutes of
# inactivity, and a day with prompt_cache_retention: 24h.
_CACHE_TTL_S = 600.0
_CACHE_24H_S = 86400.0


def generate(
    state: ServerState,
    trace: Trace,
    view: dict[str, Any],
    reply: Mapping[str, Any],
    seed: RequestSeed,
    cache: PromptCache | None = None,
) -> dict[str, Any]:
    """The engine's reply for the rendered reply spec (checked against the ChatResponse
    schema when ``check_replies`` is on)."""
    generated = state.generator.generate(
        view, reply, seed=seed.seed, created=seed.created, seeded=seed.seeded, cache=cache
    )
    if state.settings.check_replies:
        problems = state.response_validator.validate(generated)
        if problems:
            raise APIError(
                "mockllm built a reply that breaks the ChatResponse schema (check the "
                f"scenario {trace.scenario!r}): "
                + "; ".join(f"{p.param}: {p.message}" for p in problems)
            )
    return generated


# --------------------------------------------------------------------------- deliver


async def deliver(
    request: AnyRequest,
    state: ServerState,
    trace: Trace,
    surface: Surface,
    call: Call,
    answer: dict[str, Any],
    limits: Mapping[str, str],
    callback: str | None,
    seed: int,
) -> web.StreamResponse:
    """JSON, JSONP or SSE, with the reply's timing and faults."""
    reply = call.reply
    extra = reply.get("headers")
    headers = {**limits, **{str(k): str(v) for k, v in extra.items()}} if extra else dict(limits)
    stamp(headers, trace.request_id, trace.started, default_limits=state.rate_limiter is None)
    headers = surface.reply_headers(trace.request_id, headers)
    timing: Mapping[str, Any] = reply.get("timing") or {}
    # Timing jitter and fault dice have their own generator, made only when one of them
    # draws (delivery.jittered and pick_fault); seeding one costs more than a chunk.
    rng = random.Random(seed ^ 0x5EED) if timing.get("jitter") or reply.get("fault") else None
    fault = delivery.pick_fault(reply.get("fault"), rng) if rng is not None else None
    if fault is not None:
        trace.tags["fault"] = fault.kind

    if call.body.get("stream"):
        trace.stream = True

        def on_end(complete: bool, response: web.StreamResponse) -> None:
            # Journal the stream before its last bytes leave, so a client that has read
            # the end always finds it (the middleware would record it only afterwards).
            if not complete:
                trace.response = None  # cut short by a fault: no whole reply was sent
            record(request, state, trace, response, None)

        return await delivery.send_stream(
            request,
            surface.stream(state, call, timing),
            headers=headers,
            timing=timing,
            rng=rng,
            fault=fault,
            tags=trace.tags,
            started=trace.started,
            on_end=on_end,
        )
    payload, content_type = wire.dumps(answer), "application/json"
    if callback is not None:
        payload, content_type = wire.jsonp(callback, payload), "application/javascript"
    return await delivery.send_body(
        request,
        payload,
        content_type=content_type,
        headers=headers,
        timing=timing,
        rng=rng,
        fault=fault,
    )
