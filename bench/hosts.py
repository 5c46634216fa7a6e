"""Several hosts on one Redis: what the shared state costs a request, measured.

    sudo python -m bench.hosts            # 3 s per case after 1 s of warm-up
    sudo python -m bench.hosts --quick    # 1 s per case

Each host is a network namespace on a private bridge (``bench/netns.py``): one runs
redis-server, one or two run ``mockllm serve --quiet`` bound to their own address, and
the load generator (``bench/load.py``) runs in this namespace, so every request and
every Redis call crosses a veth pair as it would cross a network (with next to no
latency: the figures are CPU, not a data centre's round trips). Cases:

- stateless (the built-in default reply), memory store, then Redis: the journal is
  written in batches off the request's path;
- the same, with a browser view's live feed open on the host (the journal's batches
  are then also published on the live channel);
- stateful (a ``sequence`` scenario, one use-count script per request), memory then
  Redis, on one host and on two (half the connections each).

Prints requests/s, p50 latency and CPU per request (mockllm and redis-server, from
/proc), and the round trip of one use-count script from this namespace.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx
import orjson

from .load import LoadResult, run_load
from .netns import Bridge, Host, mockllm_argv, redis_argv
from .workers import _STATEFUL, _cpu_seconds_of, _take_round_trip_us

__all__ = ["main"]

_REPO = Path(__file__).resolve().parents[1]
# Bound beyond loopback, the control API (the live feed) needs a token.
_TOKEN = "bench"


@dataclass(frozen=True, slots=True)
class _Case:
    label: str
    hosts: int
    redis: bool
    stateful: bool
    watched: bool = False


CASES = (
    _Case("stateless, 1 host, memory", 1, False, False),
    _Case("stateless, 1 host, Redis", 1, True, False),
    _Case("stateless, 1 host, Redis, live feed open", 1, True, False, watched=True),
    _Case("stateful, 1 host, memory", 1, False, True),
    _Case("stateful, 1 host, Redis", 1, True, True),
    _Case("stateful, 2 hosts, Redis", 2, True, True),
)


def _serve(host: Host, redis: Host | None, scenarios: Path, prefix: str) -> subprocess.Popen[bytes]:
    args = mockllm_argv(
        host,
        redis,
        "--admin-token",
        _TOKEN,
        "--state-prefix",
        prefix,
        "--scenarios",
        str(scenarios),
        str(_REPO / "scenarios"),
    )
    process = host.popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://{host.address}:8000/__mockllm/health").status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"mockllm on {host.address} did not start")


async def _loads(
    urls: list[str],
    body: bytes,
    concurrency: int,
    seconds: float,
    warmup: float,
    pids: tuple[int, ...],
) -> LoadResult:
    """Load on every URL at once (the connections split between them), summed."""
    share = max(1, concurrency // len(urls))
    cpu = functools.partial(_cpu_seconds_of, pids)
    found = await asyncio.gather(
        *(
            run_load(
                url + "/v1/chat/completions",
                body,
                concurrency=share,
                seconds=seconds,
                warmup=warmup,
                server_cpu=cpu if i == 0 else None,
            )
            for i, url in enumerate(urls)
        )
    )
    first = found[0]
    return LoadResult(
        requests=sum(r.requests for r in found),
        errors=sum(r.errors for r in found),
        seconds=first.seconds,
        p50_ms=max(r.p50_ms for r in found),
        p99_ms=max(r.p99_ms for r in found),
        max_ms=max(r.max_ms for r in found),
        response_bytes=sum(r.response_bytes for r in found),
        client_cpu=sum(r.client_cpu for r in found),
        server_cpu=first.server_cpu,
    )


def _watch(url: str) -> subprocess.Popen[bytes]:
    """A browser view's live feed, read and thrown away by curl."""
    return subprocess.Popen(
        ["curl", "-sN", f"{url}/__mockllm/requests/stream?token={_TOKEN}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def main(argv: list[str] | None = None) -> int:
    """Run every case and print the table."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.hosts",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--quick", action="store_true", help="1 s per case, 0.5 s warm-up")
    args = parser.parse_args(argv)
    if args.quick:
        args.seconds, args.warmup = 1.0, 0.5
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    folder = Path(tempfile.mkdtemp(prefix="mockllm-bench-hosts-"))
    scenarios = folder / "counted.yaml"
    scenarios.write_text(_STATEFUL)
    bridge = Bridge()
    try:
        redis_host = bridge.add_host("redis")
        hosts = [bridge.add_host(f"h{i}") for i in (1, 2)]
        redis = redis_host.popen(
            redis_argv(binary, redis_host.address, str(folder)),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(0.3)
        results: dict[str, LoadResult] = {}
        for case in CASES:
            prefix = f"bench:{uuid.uuid4().hex}:"
            used = hosts[: case.hosts]
            servers = [
                _serve(h, redis_host if case.redis else None, scenarios, prefix) for h in used
            ]
            urls = [f"http://{h.address}:8000" for h in used]
            watcher = _watch(urls[0]) if case.watched else None
            text = "count me" if case.stateful else "hello"
            body = orjson.dumps(
                {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": text}]}
            )
            pids = tuple(s.pid for s in servers) + ((redis.pid,) if case.redis else ())
            try:
                results[case.label] = asyncio.run(
                    _loads(urls, body, args.concurrency, args.seconds, args.warmup, pids)
                )
            finally:
                if watcher is not None:
                    watcher.terminate()
                    watcher.wait(10)
                for host, server in zip(used, servers, strict=True):
                    host.stop(server)
        round_trip = asyncio.run(_take_round_trip_us(f"redis://{redis_host.address}:6379/0"))
    finally:
        bridge.teardown()
        shutil.rmtree(folder, ignore_errors=True)
    print(f"{'case':<42} {'req/s':>8} {'p50 ms':>7} {'CPU us/req':>10} {'errors':>6}")
    for label, result in results.items():
        cpu = result.server_cpu / result.requests * 1e6 if result.requests else 0.0
        print(
            f"{label:<42} {result.rps:>8,.0f} {result.p50_ms:>7.2f} {cpu:>10,.0f} "
            f"{result.errors:>6}"
        )
    print(f"use-count script round trip across the bridge, sequential: {round_trip:,.0f} us")
    return 0


if __name__ == "__main__":
    sys.exit(main())
