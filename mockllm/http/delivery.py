"""Delivering a reply over HTTP: latency, token pacing, server-sent events and faults.

The pipeline has decided *what* to answer; this module decides *how it arrives*: after a
seeded delay, as a paced SSE stream, or broken on purpose (a closed socket, a hang, a
cut stream, a malformed chunk, an error event), as the reply's ``timing`` and ``fault``
ask. Every random choice comes from the request's seeded generator, so a run repeats.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from ..errors import ScriptedError
from ..surfaces.base import EventStream
from .leanio import AnyRequest, open_stream

__all__ = [
    "CLOSED",
    "Fault",
    "drop_connection",
    "jittered",
    "pick_fault",
    "send_body",
    "send_stream",
]

# The journal's status for an exchange whose connection closed before an answer (nginx's
# "client closed request"); it never goes on the wire.
CLOSED = 499


@dataclass(frozen=True, slots=True)
class Fault:
    """A fault the reply asked for and the dice granted."""

    kind: str
    after_chunks: int
    seconds: float
    message: str
    # stream_error: the error's type (None: the one of its status, 500).
    error_type: str | None = None


def pick_fault(spec: Mapping[str, Any] | None, rng: random.Random) -> Fault | None:
    """The fault to inject, if the reply has one and its seeded probability fires."""
    if not spec:
        return None
    if rng.random() >= float(spec.get("probability", 1.0)):
        return None
    return Fault(
        kind=str(spec["kind"]),
        after_chunks=int(spec.get("after_chunks", 0)),
        seconds=float(spec.get("seconds", 300.0)),
        message=str(spec.get("message", "The server had an error while processing your request.")),
        error_type=str(spec["type"]) if spec.get("type") else None,
    )


def jittered(value_ms: float, timing: Mapping[str, Any], rng: random.Random | None) -> float:
    """``value_ms`` moved by up to ``timing.jitter`` (a fraction) either way, in seconds
    (``rng`` is None only for a reply without jitter or fault, which draws nothing)."""
    jitter = float(timing.get("jitter") or 0.0)
    if jitter and rng is not None:
        value_ms = max(0.0, float(value_ms) * (1.0 + rng.uniform(-jitter, jitter)))
    return float(value_ms) / 1000.0


def drop_connection(
    request: AnyRequest,
    response: web.StreamResponse | None = None,
) -> web.StreamResponse:
    """Close the socket without (the rest of) an answer, as a crashed upstream would.

    The returned response is never sent: aiohttp finds the transport closed and drops
    the connection quietly, where an exception would be logged as a server error.
    """
    if request.transport is not None:
        request.transport.abort()
    return response if response is not None else web.Response(status=CLOSED)


async def _hang(
    request: AnyRequest, fault: Fault, response: web.StreamResponse | None = None
) -> web.StreamResponse:
    """Answer nothing until the client gives up (or ``fault.seconds`` pass)."""
    deadline = time.monotonic() + fault.seconds
    while time.monotonic() < deadline:
        transport = request.transport
        if transport is None or transport.is_closing():
            break
        await asyncio.sleep(0.05)
    return drop_connection(request, response)


async def send_body(
    request: AnyRequest,
    payload: bytes,
    *,
    content_type: str,
    headers: Mapping[str, str],
    timing: Mapping[str, Any],
    rng: random.Random | None,
    fault: Fault | None,
) -> web.StreamResponse:
    """One body (JSON or JSONP) after ``timing.latency_ms``, or the fault instead."""
    latency = timing.get("latency_ms")
    if latency:
        await asyncio.sleep(jittered(latency, timing, rng))
    if fault is not None:
        if fault.kind in {"close", "disconnect"}:
            return drop_connection(request)
        if fault.kind == "hang":
            return await _hang(request, fault)
        if fault.kind == "malformed_chunk":
            payload = payload[: len(payload) // 2]
        elif fault.kind == "stream_error":
            raise ScriptedError(fault.message, status=500)
    return web.Response(body=payload, content_type=content_type, headers=headers)


async def send_stream(
    request: AnyRequest,
    events: EventStream,
    *,
    headers: Mapping[str, str],
    timing: Mapping[str, Any],
    rng: random.Random | None,
    fault: Fault | None,
    tags: dict[str, Any],
    started: float | None = None,
    on_end: Callable[[bool, web.StreamResponse], None],
) -> web.StreamResponse:
    """The surface's events, paced by ``timing``, then its end (chat's ``data: [DONE]``).

    ``ttft_ms`` (else ``latency_ms``) comes before the first chunk, and the gap between
    chunks keeps ``tokens_per_second`` for chunks of ``chunk_size`` tokens (characters
    count as a quarter token each). A client that goes away is noted in ``tags``, and
    so is when each chunk went out (``tags["chunks"]``, :func:`_note_chunks`).
    ``on_end(complete, response)`` runs just before the last bytes go out (``complete``
    False when a fault cuts the stream), so whatever it records is there when the
    client is done.
    """
    if fault is not None and fault.kind == "close":
        return drop_connection(request)
    first_delay = timing.get("ttft_ms", timing.get("latency_ms"))
    tps = timing.get("tokens_per_second")
    gap_ms = 1000.0 * _tokens_per_chunk(timing) / float(tps) if tps else 0.0
    if first_delay:
        await asyncio.sleep(jittered(first_delay, timing, rng))
    clock = time.perf_counter
    origin = started if started is not None else clock()
    response: web.StreamResponse | None = None
    try:
        response = await open_stream(
            request,
            headers=headers,
            content_type="text/event-stream; charset=utf-8",
            cache_control="no-cache",
        )
        if not tps and fault is None:
            # Nothing to pace or break: the whole stream in one write (one send, with
            # the headers and the end of the body), which triples streaming throughput
            # over a write per chunk.
            data = events.whole()
            _note_chunks(tags, timing, (clock() - origin) * 1000.0)
            on_end(True, response)
            await response.write_eof(data)
            return response
        offsets: list[float] = []
        _note_chunks(tags, timing, offsets)
        # Without jitter each chunk is due a gap after the one before on one clock, so
        # sleeps that overshoot a little do not add up over a long stream (a recorded
        # stream replays as long as it took); a long stall is not made up for. Jittered
        # gaps are each their own seeded draw, slept as drawn.
        loop_time = asyncio.get_running_loop().time
        steady = not timing.get("jitter")
        due = loop_time()
        for event in events:
            if fault is not None and len(offsets) == fault.after_chunks:
                cut = await _stream_fault(request, response, events, fault, event, on_end)
                if cut is not None:
                    return cut
            if gap_ms and offsets:
                gap = jittered(gap_ms, timing, rng)
                due = due + gap if steady else loop_time() + gap
                delay = due - loop_time()
                if delay > 0:
                    await asyncio.sleep(delay)
                elif delay < -gap:  # a stall, not drift: no burst of chunks to catch up
                    due = loop_time()
            await response.write(event)
            offsets.append((clock() - origin) * 1000.0)
        if fault is not None and len(offsets) <= fault.after_chunks:
            # A fault placed past the last chunk fires just before [DONE].
            cut = await _stream_fault(request, response, events, fault, None, on_end)
            if cut is not None:
                return cut
        on_end(True, response)
        if events.end:
            await response.write(events.end)
        await response.write_eof()
    except ConnectionResetError:
        tags["disconnected"] = "the client went away during the stream"
    return response if response is not None else drop_connection(request)


def _note_chunks(
    tags: dict[str, Any], timing: Mapping[str, Any], offsets: list[float] | float
) -> None:
    """Keep in ``tags["chunks"]`` how the stream was cut into chunks (``by``, ``size``:
    enough to cut the journaled reply the same way again) and when they went out
    (``at_ms``, milliseconds since the request arrived: one number when every chunk
    went in one write, else one per chunk sent, filled as they go)."""
    tags["chunks"] = {
        "by": timing.get("chunk", "tokens"),
        "size": int(timing.get("chunk_size", 1)),
        "at_ms": offsets,
    }


def _tokens_per_chunk(timing: Mapping[str, Any]) -> float:
    """How many tokens one content chunk carries, for pacing."""
    size = float(timing.get("chunk_size", 1))
    return size / 4.0 if timing.get("chunk") == "chars" else size


async def _stream_fault(
    request: AnyRequest,
    response: web.StreamResponse,
    events: EventStream,
    fault: Fault,
    event: bytes | None,
    on_end: Callable[[bool, web.StreamResponse], None],
) -> web.StreamResponse | None:
    """Inject ``fault`` into a stream; a response returned means the stream ends there."""
    if fault.kind in {"disconnect", "hang", "stream_error"}:
        on_end(False, response)
    if fault.kind == "disconnect":
        return drop_connection(request, response)
    if fault.kind == "hang":
        return await _hang(request, fault, response)
    if fault.kind == "stream_error":
        error = ScriptedError(
            fault.message, status=500, openai_code="server_error", openai_type=fault.error_type
        )
        await response.write(events.error_event(error))
        await response.write_eof()
        return response
    if fault.kind == "malformed_chunk":
        # The start of an event, cut inside its JSON: what a broken proxy produces.
        await response.write(events.cut_event(event))
    return None
