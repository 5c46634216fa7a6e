"""``python -m bench.profile_request``: what one request costs, piece by piece, in-process.

Times each step of the chat pipeline on the objects a real app builds (parse,
validation, scenario resolution, seeding, generation, JSON and SSE encoding),
then whole requests, one at a time through one aiohttp client, to mockllm served as
``mockllm serve`` serves it (its lean lane in front of aiohttp) and to the bare
baseline endpoint, so "mockllm minus bare" is mockllm's own cost per request.
``--cprofile`` adds the functions with the most own time over many requests.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import os
import pstats
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import orjson
from aiohttp import web

from .fixtures import (
    CHUNK_CHARS,
    STREAM_CHUNKS,
    STREAM_TEXT,
    request_body,
    write_mockllm_scenarios,
)
from .mockllm_api import (
    STATE,
    RequestView,
    make_app,
    parse_overrides,
    render,
    request_seed,
    run_now,
    start_site,
    streaming,
)
from .process import split_cores
from .scenariogen import write_scenarios
from .serve import bare_app
from .wrk import find_wrk, run_wrk

__all__ = ["Timing", "main", "pipeline_timings", "request_timings", "time_call"]

_HEADERS = {"Content-Type": "application/json"}
PATH = "/v1/chat/completions"
REQUEST = request_body()  # no fixture marker: mockllm's generated default reply
# The load benchmark's requests (bench/fixtures.py), by the name --case takes.
CASES: dict[str, dict[str, Any]] = {
    "default": REQUEST,
    "default-stream": request_body(stream=True),
    "canned": request_body("canned"),
    "stream": request_body("stream", stream=True),
    "bare": request_body("canned"),  # the bare endpoint (bench/serve.py), for comparison
}
# The cases answered from the load benchmark's fixture scenario file.
_FIXTURE_CASES = ("canned", "stream")


@dataclass(frozen=True, slots=True)
class Timing:
    """Microseconds one piece takes, per call."""

    name: str
    micros: float


# CPU time of this process, not wall time: other load on a shared machine takes the
# core away now and then, which would count in wall time but not here.
CLOCK = time.process_time


def time_call(fn: Callable[[], Any], *, number: int, repeat: int = 5) -> float:
    """CPU microseconds per call: the best of ``repeat`` runs of ``number`` calls."""
    best = float("inf")
    for _ in range(repeat):
        started = CLOCK()
        for _ in range(number):
            fn()
        best = min(best, CLOCK() - started)
    return best / number * 1e6


def pipeline_timings(
    app: web.Application, number: int, scenario_app: web.Application | None = None
) -> list[Timing]:
    """Each in-process step of one non-streaming request (and the SSE encoding of it)."""
    state = app[STATE]
    raw = orjson.dumps(REQUEST)
    body = orjson.loads(raw)
    seed = request_seed(body, override=None, server_seed=None)
    reply = state.generator.generate(body, {}, seed=seed.seed, created=seed.created)
    tokenizer = state.generator.tokenizer_for(body.get("model"))
    # The load benchmark's stream: its text in 20-character chunks (bench/fixtures.py).
    canned = state.generator.generate(
        body, {"content": STREAM_TEXT}, seed=seed.seed, created=seed.created
    )

    def sse() -> bytes:  # what the server writes for an unpaced stream
        return render.sse_stream(
            streaming.chunk_json(reply, include_usage=False, tokenizer=tokenizer)
        )

    streamed = {**body, "stream": True}

    def generate_and_sse() -> bytes:  # a streamed default reply: its tokens handed over
        generated = state.generator.generate(streamed, {}, seed=seed.seed, created=seed.created)
        return render.sse_stream(
            streaming.chunk_json(generated, include_usage=False, tokenizer=tokenizer)
        )

    def sse_chars() -> bytes:
        return render.sse_stream(
            streaming.chunk_json(
                canned,
                include_usage=False,
                chunking="chars",
                chunk_size=CHUNK_CHARS,
                tokenizer=tokenizer,
            )
        )

    pieces: list[tuple[str, Callable[[], Any]]] = [
        ("parse body (orjson.loads)", lambda: orjson.loads(raw)),
        ("validate request", lambda: state.validator.validate(body)),
        (
            "resolve scenario (built-in set)",
            lambda: run_now(state.scenarios.resolve(RequestView(body, _HEADERS, PATH))),
        ),
    ]
    if scenario_app is not None:
        many = scenario_app[STATE].scenarios
        pieces.append(
            (
                f"resolve scenario ({len(many.scenarios):,} loaded)",
                lambda: run_now(many.resolve(RequestView(body, _HEADERS, PATH))),
            )
        )
    resolution = run_now(state.scenarios.resolve(RequestView(body, _HEADERS, PATH)))
    pieces += [
        ("parse overrides (Prefer header)", lambda: parse_overrides(_HEADERS, {})),
        ("request seed", lambda: request_seed(body, override=None, server_seed=None)),
        ("seed Faker (seed_instance)", lambda: state.faker.seed_instance(seed.seed)),
        ("render the matched reply", lambda: resolution.render(state.faker)),
        (
            "generate default reply",
            lambda: state.generator.generate(body, {}, seed=seed.seed, created=seed.created),
        ),
        ("encode reply (render.dumps)", lambda: render.dumps(reply)),
        ("stream: chunks + SSE framing", sse),
        (f"stream: chunks + SSE framing ({STREAM_CHUNKS}-chunk scenario)", sse_chars),
        ("generate default reply + stream it", generate_and_sse),
    ]
    return [Timing(name, time_call(fn, number=number)) for name, fn in pieces]


@asynccontextmanager
async def served(app: web.Application) -> AsyncIterator[str]:
    """The chat completions URL of ``app`` served on 127.0.0.1 in this process: a mockllm
    app as ``mockllm serve`` serves it (``start_site``: the lean lane in front of
    aiohttp), the bare endpoint on a plain aiohttp site."""
    if STATE in app:
        site = await start_site(app, "127.0.0.1", 0)
        try:
            yield f"http://127.0.0.1:{site.port}{PATH}"
        finally:
            await site.close()
        return
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        yield f"http://127.0.0.1:{runner.addresses[0][1]}{PATH}"
    finally:
        await runner.cleanup()


async def request_timings(
    apps: Sequence[tuple[str, web.Application, dict[str, Any]]], number: int
) -> list[Timing]:
    """Whole requests, one at a time, through one aiohttp client (its cost included)."""
    timings = []
    for name, app, body in apps:
        async with served(app) as url, aiohttp.ClientSession() as client:
            payload = orjson.dumps(body)

            async def once(
                client: aiohttp.ClientSession = client,
                url: str = url,
                payload: bytes = payload,
                name: str = name,
            ) -> None:
                async with client.post(url, data=payload, headers=_HEADERS) as response:
                    await response.read()
                    if response.status != 200:
                        raise RuntimeError(f"{name}: status {response.status}")

            for _ in range(min(50, number)):  # warm up connection and caches
                await once()
            started = CLOCK()
            for _ in range(number):
                await once()
            timings.append(Timing(name, (CLOCK() - started) / number * 1e6))
    return timings


def _cprofile(app: web.Application, body: dict[str, Any], number: int, top: int) -> str:
    profiler = cProfile.Profile(CLOCK)

    async def load() -> None:
        async with served(app) as url, aiohttp.ClientSession() as client:
            payload = orjson.dumps(body)
            # Not profiled: the first request loads the model's encoding and word pools.
            async with client.post(url, data=payload, headers=_HEADERS) as response:
                await response.read()
            profiler.enable()
            for _ in range(number):
                async with client.post(url, data=payload, headers=_HEADERS) as response:
                    await response.read()
            profiler.disable()

    asyncio.run(load())
    return _per_request(profiler, number, top)


async def _profile_under_wrk(
    app: web.Application, body: dict[str, Any], seconds: float, top: int
) -> str:
    """The app served in this process, profiled while wrk loads it from another core."""
    wrk, _ = find_wrk()
    if wrk is None:
        return "wrk is not installed: no profile under load"
    server_cpu, load_cpu = split_cores()
    if server_cpu is not None:
        os.sched_setaffinity(0, {server_cpu})
    profiler = cProfile.Profile(CLOCK)
    async with served(app) as url:
        payload = orjson.dumps(body)
        with tempfile.TemporaryDirectory(prefix="mockllm-profile-") as tmp:
            await run_wrk(
                wrk,
                url,
                payload,
                connections=32,
                seconds=1,
                warmup=0,
                script_dir=Path(tmp),
                cpu=load_cpu,
            )
            profiler.enable()
            result = await run_wrk(
                wrk,
                url,
                payload,
                connections=32,
                seconds=seconds,
                warmup=0,
                script_dir=Path(tmp),
                cpu=load_cpu,
            )
            profiler.disable()
    if result.errors:
        raise RuntimeError(f"{result.errors} errors under wrk")
    return (
        f"{result.requests:,} requests in {result.seconds:.1f} s ({result.rps:,.0f} req/s "
        f"with the profiler on)\n\n" + _per_request(profiler, result.requests, top)
    )


def _per_request(profiler: cProfile.Profile, requests: int, top: int) -> str:
    """The top functions by own CPU time, in µs and calls per request."""
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    total = sum(tt for _, _, tt, _, _ in stats.values())
    rows = sorted(stats.items(), key=lambda item: item[1][2], reverse=True)[:top]
    lines = [
        f"CPU per request under the profiler: {total / requests * 1e6:,.1f} µs",
        "",
        "| function | calls/request | own µs/request | with callees µs/request |",
        "|---|---:|---:|---:|",
    ]
    for (file, line, func), (_, calls, own, cumulative, _) in rows:
        where = f"{_short(file)}:{line}({func})" if line else func
        lines.append(
            f"| {where} | {calls / requests:,.1f} | {own / requests * 1e6:,.1f} "
            f"| {cumulative / requests * 1e6:,.1f} |"
        )
    return "\n".join(lines)


def _short(file: str) -> str:
    """A source path from its package on (mockllm/app.py, aiohttp/web_protocol.py)."""
    parts = Path(file).parts
    if "site-packages" in parts:
        return "/".join(parts[len(parts) - parts[::-1].index("site-packages") :])
    for anchor in ("mockllm", "bench", "asyncio"):
        if anchor in parts:
            return "/".join(parts[len(parts) - 1 - parts[::-1].index(anchor) :])
    return Path(file).name


def _table(title: str, timings: Sequence[Timing]) -> str:
    lines = [f"| {title} | µs per call |", "|---|---:|"]
    lines += [f"| {t.name} | {t.micros:,.1f} |" for t in timings]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Print the per-piece and per-request tables (and a cProfile listing if asked)."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.profile_request", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--number", type=int, default=2000, help="calls per timing")
    parser.add_argument(
        "--scenarios",
        type=int,
        default=1000,
        help="also time resolution with this many scenarios (0: skip)",
    )
    parser.add_argument(
        "--cprofile",
        type=int,
        default=0,
        metavar="N",
        help="profile N whole requests and list the top functions",
    )
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument(
        "--wrk-profile",
        type=float,
        default=0,
        metavar="SECONDS",
        help="profile the server alone, served in this process, while wrk "
        "loads it for SECONDS from another core (needs wrk)",
    )
    parser.add_argument(
        "--case",
        choices=sorted(CASES),
        default="default",
        help="the request --cprofile and --wrk-profile send (canned and "
        "stream: the load benchmark's fixture scenarios; default: the "
        "generated reply)",
    )
    args = parser.parse_args(argv)
    app = make_app()
    with tempfile.TemporaryDirectory(prefix="mockllm-profile-") as tmp:
        fixtures = write_mockllm_scenarios(Path(tmp) / "bench-fixtures.yaml")
        canned_app = make_app([fixtures])
        scenario_app = None
        if args.scenarios:
            write_scenarios(Path(tmp) / "many", args.scenarios)
            scenario_app = make_app([Path(tmp) / "many"])
        # As `mockllm serve` does: what lives as long as the server leaves the collector's
        # sight, so a full collection over a large heap does not land in one timing.
        gc.collect()
        gc.freeze()
        pieces = pipeline_timings(app, args.number, scenario_app)
        apps = [
            ("bare aiohttp endpoint", bare_app(), CASES["canned"]),
            ("mockllm, default reply", app, REQUEST),
            ("mockllm, canned 1 KB scenario reply", canned_app, CASES["canned"]),
            ("bare aiohttp endpoint, SSE stream", bare_app(), CASES["stream"]),
            ("mockllm, default reply, SSE stream", app, CASES["default-stream"]),
            ("mockllm, scenario SSE stream", canned_app, CASES["stream"]),
        ]
        if scenario_app is not None:
            apps.append((f"mockllm, {args.scenarios:,} scenarios", scenario_app, REQUEST))
        whole = asyncio.run(request_timings(apps, max(1, args.number // 4)))

        def fresh_app() -> web.Application:  # one that served requests is bound to that loop
            if args.case == "bare":
                return bare_app()
            return make_app([fixtures] if args.case in _FIXTURE_CASES else [])

        listing = (
            _cprofile(fresh_app(), CASES[args.case], args.cprofile, args.top)
            if args.cprofile
            else ""
        )
        if args.wrk_profile:
            under_load = asyncio.run(
                _profile_under_wrk(fresh_app(), CASES[args.case], args.wrk_profile, args.top)
            )
    print(_table("pipeline piece", pieces))
    print()
    print(_table("whole request, served as `mockllm serve` serves it (client included)", whole))
    micros = {t.name: t.micros for t in whole}
    print("\nmockllm's own cost per request (mockllm - bare, same content):")
    for name, base in (
        ("mockllm, canned 1 KB scenario reply", "bare aiohttp endpoint"),
        ("mockllm, scenario SSE stream", "bare aiohttp endpoint, SSE stream"),
    ):
        print(f"- {name}: {micros[name] - micros[base]:,.1f} µs")
    if listing:
        print(f"\ncProfile of {args.cprofile:,} requests ({args.case}, client included):\n")
        print(listing)
    if args.wrk_profile:
        print(f"\ncProfile of the server alone under wrk ({args.case}):\n")
        print(under_load)
    return 0


if __name__ == "__main__":
    sys.exit(main())
