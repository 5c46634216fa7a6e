"""One benchmark server in its own process: the bare aiohttp baseline or mockllm.

``python -m bench.serve bare|mockllm [--scenarios DIR] [--cpu N]`` binds a free
port on 127.0.0.1, prints ``PORT <n>`` on stdout once it serves, and runs until
it is terminated. ``--cpu`` pins the process to one core so the server and the
load generator do not share one.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

import orjson
from aiohttp import web

__all__ = ["BARE_REPLY", "bare_app", "main"]

# What the baseline answers: a ChatResponse of the usual shape and size, built once.
BARE_REPLY: dict[str, object] = {
    "id": "chatcmpl-bench",
    "object": "chat.completion",
    "created": 1_750_000_000,
    "model": "gpt-4o-mini",
    "choices": [{
        "index": 0,
        "message": {"role": "assistant", "content": "Hello from the bare endpoint. " * 4,
                    "refusal": None, "annotations": []},
        "logprobs": None,
        "finish_reason": "stop",
    }],
    "usage": {"prompt_tokens": 25, "completion_tokens": 28, "total_tokens": 53},
}


def bare_app() -> web.Application:
    """The baseline: parse the JSON body, answer a JSON body; nothing else."""

    async def chat(request: web.Request) -> web.Response:
        body = orjson.loads(await request.read())
        reply = dict(BARE_REPLY, model=body.get("model", "gpt-4o-mini"))
        return web.Response(body=orjson.dumps(reply), content_type="application/json")

    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    return app


def _announce(url: str) -> None:
    port = url.rsplit(":", 1)[1]
    sys.stdout.write(f"PORT {port}\n")
    sys.stdout.flush()


async def _serve_bare() -> None:
    runner = web.AppRunner(bare_app(), access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        _announce(f"http://127.0.0.1:{runner.addresses[0][1]}")
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


async def _serve_mockllm(scenarios: Path | None) -> None:
    # Imported here so the baseline process never pays for mockllm's imports.
    from mockllm.config import Settings
    from mockllm.http.serving import serve_forever

    paths = (scenarios,) if scenarios is not None else ()
    await serve_forever(Settings(host="127.0.0.1", port=0, scenario_paths=paths), _announce)


def main(argv: list[str] | None = None) -> None:
    """Run one benchmark server until terminated."""
    parser = argparse.ArgumentParser(prog="python -m bench.serve")
    parser.add_argument("kind", choices=("bare", "mockllm"))
    parser.add_argument("--scenarios", type=Path, default=None)
    parser.add_argument("--cpu", type=int, default=None)
    args = parser.parse_args(argv)
    if args.cpu is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {args.cpu})
    serve = _serve_bare() if args.kind == "bare" else _serve_mockllm(args.scenarios)
    try:
        asyncio.run(serve)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
