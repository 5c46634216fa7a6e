"""Forwarding a chat request to the upstream and recording its answer (docs/recording.md).

The pipeline's ``forward`` step: the request's own bytes go to the upstream's
``/chat/completions`` with the client's Authorization (or ``--upstream-key``); the
answer goes back to the client unchanged, a stream relayed piece by piece as it
arrives. Once the upstream is done (before the last bytes reach the client, so a
client that has read ``[DONE]`` finds the file written and the journal entry made),
the exchange becomes a scenario in the recording's book and, recording ``missing``,
a live scenario that answers the same request next time.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

import aiohttp
import orjson
from aiohttp import hdrs, web

from ..errors import APIError
from ..ratelimit import bearer_token
from ..recording import Recording
from ..reply_engine import streaming
from .context import ServerState, Trace
from .leanio import AnyRequest, open_stream
from .middleware import record

__all__ = ["UPSTREAM", "UPSTREAM_HEADER", "Upstream", "forward"]

log = logging.getLogger("mockllm")

# The response header naming the upstream URL that answered a forwarded request, and how.
UPSTREAM_HEADER = "x-mockllm-upstream"

# Request headers passed upstream besides Authorization (others describe the client).
_PASSED = ("openai-organization", "openai-project", "openai-beta")
# Response headers never relayed: they describe this connection, not the answer.
_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "transfer-encoding",
        "content-length",
        "content-encoding",
        "date",
        "server",
        "proxy-authenticate",
    }
)


class Upstream:
    """The app's HTTP client for upstreams, made on first use in the app's loop."""

    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None

    def session(self) -> aiohttp.ClientSession:
        """The client session (one per app: connections are reused)."""
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                auto_decompress=False, timeout=aiohttp.ClientTimeout(total=None, connect=30)
            )
        return self._session

    async def close(self) -> None:
        """Close the session, if one was made."""
        if self._session is not None:
            await self._session.close()


UPSTREAM = web.AppKey("mockllm_upstream", Upstream)


async def forward(
    request: AnyRequest,
    state: ServerState,
    trace: Trace,
    body: dict[str, Any],
    recording: Recording,
) -> web.StreamResponse:
    """Send the request upstream, relay the answer, record the exchange."""
    client_auth = request.headers.get(hdrs.AUTHORIZATION)
    headers: dict[str, str] = {
        hdrs.CONTENT_TYPE: "application/json",
        hdrs.ACCEPT_ENCODING: "identity",
        hdrs.ACCEPT: request.headers.get(hdrs.ACCEPT, "application/json"),
    }
    authorization = recording.authorization(client_auth)
    if authorization:
        headers[hdrs.AUTHORIZATION] = authorization
    headers.update({name: request.headers[name] for name in _PASSED if name in request.headers})
    secrets = (bearer_token(client_auth), client_auth)
    trace.tags["forwarded"] = recording.upstream
    raw = await request.read()
    started = time.perf_counter()
    session = request.app[UPSTREAM].session()
    try:
        async with session.post(recording.endpoint, data=raw, headers=headers) as answer:
            passed = {k: v for k, v in answer.headers.items() if k.lower() not in _HOP}
            # Which upstream URL answered what: a client that gets a 404 sees where from.
            passed[UPSTREAM_HEADER] = f"POST {recording.endpoint} -> {answer.status}"
            if answer.headers.get("x-request-id"):
                trace.request_id = answer.headers["x-request-id"]
            if answer.content_type == "text/event-stream":
                return await _relay(
                    request, state, trace, body, recording, answer, passed, started, secrets
                )
            data = await answer.read()
    except (TimeoutError, aiohttp.ClientError) as exc:
        raise APIError(
            f"The upstream {recording.upstream} could not be reached: {type(exc).__name__}: {exc}",
            status=502,
            error_code="BadGateway",
            openai_code="upstream_unreachable",
        ) from None
    parsed = _json(data)
    if answer.status < 400:
        trace.response = parsed
    mistake = recording.setup_mistake(answer.status)
    if mistake is not None:
        trace.tags["not_recorded"] = mistake
        log.warning("mockllm: %s", mistake)
    else:
        await _save(
            state,
            trace,
            recording,
            body,
            recording.reply_for(body, answer.status, parsed, data, answer.headers),
            secrets,
        )
    return web.Response(body=data, status=answer.status, headers=passed)


async def _relay(
    request: AnyRequest,
    state: ServerState,
    trace: Trace,
    body: dict[str, Any],
    recording: Recording,
    answer: aiohttp.ClientResponse,
    headers: Mapping[str, str],
    started: float,
    secrets: tuple[str | None, ...],
) -> web.StreamResponse:
    """Relay an SSE answer as it arrives; record it once the upstream has finished."""
    trace.stream = True
    response = await open_stream(request, status=answer.status, headers=headers)
    from ..recording.stream import StreamCapture  # with the conformance rules: when relaying

    capture = StreamCapture(started)
    saved = False
    client_here = True

    async def finish() -> None:
        completion = capture.completion()
        trace.response = completion
        reply = recording.reply_for(body, answer.status, completion, b"", answer.headers)
        timing = capture.timing()
        if reply is not None and timing is not None:
            reply["timing"] = timing.replay(_replay_chunks(state, body, reply, timing.chunks))
        await _save(state, trace, recording, body, reply, secrets)
        record(request, state, trace, response, None)

    async for data in answer.content.iter_any():
        capture.feed(data, time.perf_counter())
        if capture.done and not saved:
            saved = True
            await finish()
        if client_here:
            try:
                await response.write(data)
            except ConnectionResetError:
                # The client left; read the upstream to its end, so the recording is whole.
                client_here = False
                trace.tags["disconnected"] = "the client went away during the stream"
    if not saved:
        trace.tags["incomplete"] = "the upstream stream ended without [DONE]"
        await finish()
    if client_here:
        await response.write_eof()
    return response


def _replay_chunks(
    state: ServerState, body: Mapping[str, Any], reply: Mapping[str, Any], recorded: int
) -> int:
    """How many chunks mockllm's replay of ``reply`` sends (so its pacing can spread
    them over the recorded time); the recorded count if the reply cannot be built."""
    try:
        built = state.generator.generate(body, reply, seed=0, created=0)
    except APIError:
        return recorded
    options = body.get("stream_options") or {}
    return sum(
        1
        for _ in streaming.iter_chunks(
            built,
            include_usage=bool(options.get("include_usage")),
            tokenizer=state.generator.tokenizer_for(body.get("model")),
        )
    )


async def _save(
    state: ServerState,
    trace: Trace,
    recording: Recording,
    body: Mapping[str, Any],
    reply: dict[str, Any] | None,
    secrets: tuple[str | None, ...],
) -> None:
    """Write the exchange's scenario; recording ``missing``, also serve it from now on."""
    if reply is None:
        trace.tags["not_recorded"] = "the upstream's answer is not a chat completion"
        return
    saved = recording.save(body, reply, secrets)
    if saved is None:
        return
    path, scenario = saved
    trace.tags["recorded"] = str(path)
    trace.scenario = str(scenario["name"])
    if not recording.book or recording.book.fresh:
        return
    await state.scenarios.add(state.loader.load_data(scenario, str(path)))


def _json(data: bytes) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
