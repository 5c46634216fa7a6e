"""The error middleware: every failure becomes an error body, every exchange a journal entry.

It opens the request's trace, turns a ``APIError`` (or aiohttp's own 404/405/413)
into the configured error envelope, answers a mockllm bug with a logged 500 and keeps
serving, stamps ``x-request-id`` and records the exchange (:func:`record`), also on
failure. The control API's own calls are not journaled. :func:`answer` does all of it
around one handler: aiohttp's middleware calls it for every route, the lean lane
(leanserver.py) for the chat completions requests it serves itself.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from aiohttp import hdrs, web

from ..errors import (
    APIError,
    MethodNotAllowedError,
    NotFoundError,
    PayloadTooLargeError,
    UnauthorizedError,
)
from ..journal import Exchange
from ..ratelimit import bearer_token
from ..redaction import RedactedHeaders
from . import delivery, wire
from .apiheaders import stamp
from .context import STATE, TRACE, ServerState, Trace
from .leanio import AnyRequest, LeanRequest

# The request kinds the error middleware answers: aiohttp's and the lean lane's.
R = TypeVar("R", web.Request, LeanRequest)

__all__ = [
    "CONTROL_PREFIX",
    "answer",
    "check_api_key",
    "error_middleware",
    "json_response",
    "record",
]

log = logging.getLogger("mockllm")

# The control API's prefix: its calls are not journaled.
CONTROL_PREFIX = "/__mockllm"


@web.middleware
async def error_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Turn every failure into an error body in the configured dialect, and journal it."""
    return await answer(request, handler)


async def answer(
    request: R,
    handler: Callable[[R], Awaitable[web.StreamResponse]],
) -> web.StreamResponse:
    """``handler``'s answer to ``request``, or the error body it failed with; journaled.

    The error middleware of aiohttp's routes, and the lean lane's (leanserver.py) around
    the chat completions handler.
    """
    # This middleware belongs to the main app, which aiohttp makes request.app here
    # (also for the control sub-app's routes), as the lane's requests carry it: no
    # ChainMap of every app's keys needed.
    state = request.app[STATE]
    trace = Trace(request_id=f"req_{state.rng.getrandbits(128):032x}", started=time.perf_counter())
    request[TRACE] = trace
    error: APIError | None = None
    try:
        keys = state.settings.api_keys
        if (
            keys
            and request.method != hdrs.METH_OPTIONS
            and request.path != "/"
            and not request.path.startswith(CONTROL_PREFIX)
        ):
            # Anthropic's clients send x-api-key where OpenAI's send a bearer token.
            sent = request.headers.get("x-api-key")
            check_api_key(
                f"Bearer {sent}" if sent else request.headers.get(hdrs.AUTHORIZATION), keys
            )
        response = await handler(request)
    except APIError as exc:
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
        error = APIError(f"mockllm internal error: {type(exc).__name__}: {exc}")
    if error is not None:
        # An error's details reach the journal (and the body's meta, see wire.error_body).
        for key, value in error.details.items():
            if key == "near_misses":
                trace.near_misses = tuple(value)
            else:
                trace.tags[key] = value
        response = _error_response(request, state, trace, error)
    if not response.prepared:
        if request.path.startswith(CONTROL_PREFIX):
            response.headers["x-request-id"] = trace.request_id
        else:  # the API's headers, on errors as on successes
            stamp(
                response.headers,
                trace.request_id,
                trace.started,
                default_limits=state.rate_limiter is None,
            )
    if not trace.recorded and not request.path.startswith(CONTROL_PREFIX):
        record(request, state, trace, response, error)
    return response


def check_api_key(authorization: str | None, keys: tuple[str, ...]) -> None:
    """Raise the API's 401 when ``--api-keys`` are configured and the request's
    ``Authorization: Bearer`` key is missing or not one of them; the message shows the
    key masked, as the API does (and so does the journal)."""
    key = bearer_token(authorization)
    if key is None:
        raise UnauthorizedError(
            "You didn't provide an API key. You need to provide your API key in an "
            "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
            openai_type="invalid_request_error",
            openai_code="missing_api_key",
        )
    if key not in keys:
        shown = key[:3] + "*" * max(len(key) - 7, 0) + key[-4:] if len(key) > 8 else "*" * len(key)
        raise UnauthorizedError(
            f"Incorrect API key provided: {shown}. You can find your API key at "
            "https://platform.openai.com/account/api-keys.",
            openai_type="invalid_request_error",
            openai_code="invalid_api_key",
        )


def _from_http_exception(request: AnyRequest, exc: web.HTTPException) -> APIError:
    """aiohttp's own 404/405/413... as mockllm errors with a useful message."""
    if exc.status == 404:
        # The /v1 hint only where it helps: a path under /v1/ was already sent there.
        hint = (
            ""
            if request.path.startswith("/v1/")
            else " With the openai SDK, base_url must end in /v1."
        )
        return NotFoundError(
            f"No route for {request.method} {request.path}. mockllm serves POST "
            "/v1/chat/completions (also /api/ChatCompletion, /json/reply/ChatCompletion), "
            f"POST /v1/responses, GET /v1/models and the control API under /__mockllm/.{hint}"
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
    return APIError(
        exc.reason or "HTTP error",
        status=exc.status,
        error_code=exc.reason.replace(" ", "") if exc.reason else None,
    )


def _error_response(
    request: AnyRequest, state: ServerState, trace: Trace, error: APIError
) -> web.Response:
    dialect = state.settings.error_dialect
    surface = trace.surface
    if surface is not None:
        envelope, headers = surface.error_response(error, dialect, trace.request_id)
    else:
        envelope, headers = wire.error_body(error, dialect), dict(error.headers)
    body = wire.dumps(envelope)
    callback = request.query.get("callback")
    if callback is not None and wire.is_safe_callback(callback):
        # ServiceStack answers JSONP errors with 200, so the script tag's callback runs.
        return web.Response(
            body=wire.jsonp(callback, body),
            status=200,
            content_type="application/javascript",
            headers=headers,
        )
    # OpenAI's error bodies say their charset (its successes do not).
    return web.Response(
        body=body,
        status=error.status,
        content_type="application/json",
        charset="utf-8",
        headers=headers,
    )


def json_response(data: Any, status: int = 200) -> web.Response:
    """A JSON answer of the models, stored-completion and control routes."""
    return web.Response(body=wire.dumps(data), status=status, content_type="application/json")


def record(
    request: AnyRequest,
    state: ServerState,
    trace: Trace,
    response: web.StreamResponse,
    error: APIError | None,
) -> None:
    """Journal the exchange once (the last step of every request), log its line and
    tell the live feed, when anyone listens."""
    trace.recorded = True
    store = state.store
    if state.worker is not None:
        trace.tags["worker"] = state.worker
    exchange = Exchange(
        seq=store.next_seq(),
        request_id=trace.request_id,
        time=time.time(),
        method=request.method,
        path=request.path,
        # The request's own read-only mappings: no copy on the hot path. Its headers
        # redacted when first read, so no key is in clear wherever the journal goes.
        query=request.query,
        headers=RedactedHeaders(request.headers),
        body=trace.body,
        raw_body=trace.raw_body,
        field_errors=trace.field_errors,
        scenario=trace.scenario,
        near_misses=trace.near_misses,
        status=response.status,
        response=trace.response,
        error=error.message if error is not None else None,
        error_code=error.error_code if error is not None else None,
        stream=trace.stream,
        duration_ms=(time.perf_counter() - trace.started) * 1000.0,
        tags=trace.tags,
        # The response's own mapping: by the time anyone reads it, it holds what went out
        # (redacted when first read, as it may set a cookie or a token).
        reply_headers=RedactedHeaders(response.headers),
        surface=trace.surface.name if trace.surface is not None else None,
    )
    store.record(exchange)
    live = state.live
    if live.listening:
        live.publish("exchange", exchange)
    if log.isEnabledFor(logging.INFO):
        # The record made directly: log.info() would walk the stack to find the caller.
        log.handle(
            log.makeRecord(
                log.name,
                logging.INFO,
                __file__,
                0,
                exchange.log_line(state.settings.verbose),
                (),
                None,
            )
        )
