"""The bare aiohttp baseline server, in its own process.

``python -m bench.serve bare [--port N] [--uvloop] [--cpu N]`` serves
``POST /v1/chat/completions`` on 127.0.0.1 (port 0 picks a free one) and prints
``PORT <n>`` on stdout once it serves, then runs until it is terminated. It parses
the body with orjson and answers the benchmark's canned content
(bench/fixtures.py): a ChatResponse-shaped JSON with the 1 KB text, or, for
``"stream": true``, the stream text as ``STREAM_CHUNKS`` SSE chunks between a role
chunk and a finish chunk, written in one go as mockllm writes an unpaced stream.
That is what any aiohttp service costs, so "vs bare" shows what mockllm adds (or, for
its lean lane's streams, saves) against an aiohttp endpoint that does nothing else.
``--uvloop`` runs it on uvloop (when installed), ``--cpu`` pins it to one core.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Coroutine
from typing import Any

import orjson
from aiohttp import web

from .fixtures import CANNED_TEXT, MODEL, STREAM_TEXT, split_chars

__all__ = ["BARE_REPLY", "bare_app", "main"]

# What the baseline answers: a ChatResponse of the usual shape with the canned text.
BARE_REPLY: dict[str, object] = {
    "id": "chatcmpl-bench",
    "object": "chat.completion",
    "created": 1_750_000_000,
    "model": MODEL,
    "choices": [
        {
            "index": 0,
            "message": {
                "role": "assistant",
                "content": CANNED_TEXT,
                "refusal": None,
                "annotations": [],
            },
            "logprobs": None,
            "finish_reason": "stop",
        }
    ],
    "usage": {"prompt_tokens": 25, "completion_tokens": 210, "total_tokens": 235},
}


def _sse(model: str) -> bytes:
    head = {
        "id": "chatcmpl-bench",
        "object": "chat.completion.chunk",
        "created": 1_750_000_000,
        "model": model,
    }
    deltas: list[dict[str, Any]] = [{"role": "assistant", "content": ""}]
    deltas += [{"content": piece} for piece in split_chars(STREAM_TEXT)]
    events = [
        orjson.dumps(
            dict(
                head,
                choices=[{"index": 0, "delta": delta, "logprobs": None, "finish_reason": None}],
            )
        )
        for delta in deltas
    ]
    events.append(
        orjson.dumps(
            dict(
                head, choices=[{"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}]
            )
        )
    )
    return b"".join(b"data: " + event + b"\n\n" for event in events) + b"data: [DONE]\n\n"


def bare_app() -> web.Application:
    """The baseline: parse the JSON body, answer JSON or SSE built per request; nothing else."""

    async def chat(request: web.Request) -> web.StreamResponse:
        body = orjson.loads(await request.read())
        model = body.get("model", MODEL)
        if not body.get("stream"):
            return web.Response(
                body=orjson.dumps(dict(BARE_REPLY, model=model)), content_type="application/json"
            )
        response = web.StreamResponse(headers={"Cache-Control": "no-cache"})
        response.content_type = "text/event-stream"
        await response.prepare(request)
        await response.write(_sse(model))
        await response.write_eof()
        return response

    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    return app


async def _serve_bare(port: int) -> None:
    runner = web.AppRunner(bare_app(), access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", port)
        await site.start()
        sys.stdout.write(f"PORT {runner.addresses[0][1]}\n")
        sys.stdout.flush()
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


def _run(main: Coroutine[Any, Any, None], use_uvloop: bool) -> None:
    if use_uvloop:
        import uvloop  # only when asked: it is not a dependency

        uvloop.run(main)
    else:
        asyncio.run(main)


def main(argv: list[str] | None = None) -> None:
    """Run the baseline server until terminated."""
    parser = argparse.ArgumentParser(prog="python -m bench.serve")
    parser.add_argument("kind", choices=("bare",))
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--uvloop", action="store_true", help="run on uvloop")
    parser.add_argument("--cpu", type=int, default=None)
    args = parser.parse_args(argv)
    if args.cpu is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {args.cpu})
    try:
        _run(_serve_bare(args.port), args.uvloop)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
