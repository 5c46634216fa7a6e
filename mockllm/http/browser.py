"""The browser view of the journal, part of the control API (same guard, same rules).

Routes, under ``/__mockllm``::

    GET /ui                  the page: ui/index.html with ui/ui.css and ui/ui.js inlined
                             (one response, nothing fetched from anywhere else)
    GET /requests/stream     server-sent events: a ``snapshot`` of the journal's rows,
                             then ``exchanges`` (new rows, in batches) and ``cleared``
    GET /requests/{id}       one exchange in full (``Exchange.to_json``), a stream's
                             chunks in order with when each went out

A browser cannot send an ``Authorization`` header when it loads a page or opens an
``EventSource``, so these two GET routes also take the admin token as ``?token=``
(:func:`takes_query_token`); the page passes it on to every call it makes.

The stream listens to the app's :class:`~.live.LiveFeed`: a connection costs the
request path nothing but one append per exchange, and a browser too slow to keep up
is cut off and reconnects to a fresh snapshot (``EventSource`` does that by itself).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from aiohttp import web

from ..errors import NotFoundError
from ..journal import Exchange
from ..surfaces.chat.stream import chunk_dicts
from . import wire
from .context import STATE, ServerState, state_of
from .middleware import CONTROL_PREFIX, json_response

__all__ = ["chunks_of", "setup_browser", "takes_query_token"]

_UI_DIR = Path(__file__).resolve().parent / "ui"
# The tags in index.html that the served page replaces with the files' contents.
_CSS_TAG = '<link rel="stylesheet" href="ui.css">'
_JS_TAG = '<script src="ui.js"></script>'
# Seconds between keep-alive comments: how soon a silent, vanished browser is noticed.
_KEEPALIVE_S = 10.0
# How long a browser waits before reconnecting to a stream that ended.
_RETRY_MS = 1000
_QUERY_TOKEN_PATHS = frozenset({f"{CONTROL_PREFIX}/ui", f"{CONTROL_PREFIX}/requests/stream"})


def takes_query_token(path: str) -> bool:
    """Whether a GET of ``path`` may carry the admin token as ``?token=``."""
    return path in _QUERY_TOKEN_PATHS


def setup_browser(app: web.Application, control: web.Application) -> None:
    """Add the browser view's routes to the control sub-app of ``app`` (``/requests/
    stream`` before ``/requests/{id}``, which would take it), and end its streams when
    ``app`` stops."""
    control.router.add_get("/ui", _page)
    control.router.add_get("/requests/stream", _stream)
    control.router.add_get("/requests/{request_id}", _one_request)
    app.on_shutdown.append(_close_feed)


def _csp_hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


async def _page(request: web.Request) -> web.Response:
    """The page, its style and script inlined, under a policy that allows only them
    and calls back to this server."""
    html = (_UI_DIR / "index.html").read_text(encoding="utf-8")
    css = (_UI_DIR / "ui.css").read_text(encoding="utf-8")
    js = (_UI_DIR / "ui.js").read_text(encoding="utf-8")
    html = html.replace(_CSS_TAG, f"<style>{css}</style>")
    html = html.replace(_JS_TAG, f"<script>{js}</script>")
    policy = (
        f"default-src 'none'; script-src {_csp_hash(js)}; style-src {_csp_hash(css)}; "
        "connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; "
        "frame-ancestors 'none'"
    )
    return web.Response(
        text=html,
        content_type="text/html",
        charset="utf-8",
        headers={
            "Content-Security-Policy": policy,
            "Cache-Control": "no-store",
            "Referrer-Policy": "no-referrer",
            "X-Content-Type-Options": "nosniff",
        },
    )


def _batch(events: Iterable[tuple[str, Any]]) -> bytes:
    """Server-sent events for a backlog: consecutive exchanges as one ``exchanges``
    event (a list of rows), so a burst costs the browser one update."""
    out: list[bytes] = []
    rows: list[dict[str, Any]] = []
    for kind, payload in events:
        if kind == "exchange":
            rows.append(payload.row_json())
            continue
        if rows:
            out.append(wire.sse_named("exchanges", rows))
            rows = []
        out.append(wire.sse_named(kind, payload))
    if rows:
        out.append(wire.sse_named("exchanges", rows))
    return b"".join(out)


async def _stream(request: web.Request) -> web.StreamResponse:
    """The journal live: a snapshot, then every change as it happens."""
    state = state_of(request)
    feed = state.live
    # Listen before reading the snapshot, so nothing falls between the two (the page
    # ignores a row it already has).
    listener = feed.subscribe()
    await feed.ready()
    response = web.StreamResponse(headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
    response.content_type = "text/event-stream"
    try:
        await response.prepare(request)
        entries = await state.store.exchanges()
        await response.write(
            f"retry: {_RETRY_MS}\n\n".encode()
            + wire.sse_named(
                "snapshot",
                {
                    "requests": [e.row_json() for e in entries],
                    "journal_size": state.store.journal_size,
                },
            )
        )
        while listener.ended is None:
            events = await listener.take(_KEEPALIVE_S)
            transport = request.transport
            if transport is None or transport.is_closing():
                break
            if events:
                await response.write(_batch(events))
            elif listener.ended is None:
                await response.write(b": keep-alive\n\n")
        if listener.ended == "lagged":
            await response.write(wire.sse_named("lagged", {"reconnect_ms": _RETRY_MS}))
    except ConnectionResetError:
        pass  # the browser went away: drop it below
    finally:
        feed.unsubscribe(listener)
    return response


def chunks_of(state: ServerState, exchange: Exchange) -> list[dict[str, Any]] | None:
    """A journaled stream's chunks in the order sent, each with ``at_ms`` (since the
    request arrived), cut from the journaled reply as the stream cut it; None for an
    exchange that was not a stream, or a stream a fault cut short (no reply kept)."""
    noted = exchange.tags.get("chunks")
    body, reply = exchange.body, exchange.response
    if (
        not exchange.stream
        or not isinstance(noted, dict)
        or not isinstance(reply, dict)
        or not isinstance(body, dict)
        or exchange.surface not in ("chat", None)
    ):
        return None
    chunks = chunk_dicts(
        state.generator, body, reply, str(noted.get("by", "tokens")), int(noted.get("size", 1))
    )
    offsets = noted.get("at_ms")
    if isinstance(offsets, (int, float)):  # one write carried them all
        return [{"at_ms": round(offsets, 3), "chunk": chunk} for chunk in chunks]
    sent = offsets if isinstance(offsets, list) else []
    return [
        {"at_ms": round(sent[i], 3) if i < len(sent) else None, "chunk": chunk}
        for i, chunk in enumerate(chunks)
    ]


async def _one_request(request: web.Request) -> web.Response:
    """One exchange in full, by its request id (``x-request-id``)."""
    state = state_of(request)
    wanted = request.match_info["request_id"]
    for exchange in reversed(await state.store.exchanges()):
        if exchange.request_id == wanted:
            data = exchange.to_json()
            data["chunks"] = chunks_of(state, exchange)
            return json_response(data)
    raise NotFoundError(
        f"No journaled request with id {wanted!r} (the journal keeps the "
        f"last {state.store.journal_size}).",
        error_code="RequestNotFound",
    )


async def _close_feed(app: web.Application) -> None:
    """End every open stream when the server stops, so shutdown does not wait on them."""
    app[STATE].live.close()
