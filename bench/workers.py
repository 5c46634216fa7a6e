"""Scaling out: 1 worker against 2 workers sharing a Redis, stateless and stateful.

    python -m bench.workers              # 3 s per case after 1 s of warm-up
    python -m bench.workers --quick      # 1 s per case

Cases, each a ``mockllm serve`` subprocess (``--workers 2`` forks two workers on one
port) and, for the Redis ones, a ``redis-server`` this script starts on a free port:

- stateless: the built-in scenarios' default reply (no counter: a Redis store does
  not wait on Redis for it; the journal is written in batches);
- stateful: a ``sequence`` scenario, so every request takes a use count (one Lua script,
  one round trip) before it is answered.

It prints requests/s, p50 latency and CPU per request (the server's processes and
redis-server, from /proc: steadier than throughput on a busy machine) per case,
2 workers' throughput against 1 worker on the same store, and what Redis costs a
request: the difference in CPU per request between the memory and the Redis store
with one worker, next to the bare round trip of the use-count script measured from
this process.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import orjson

from .load import LoadResult, run_load

__all__ = ["main"]

_REPO = Path(__file__).resolve().parents[1]
_STATEFUL = """\
name: counted
when: {last_user_message: {contains: count me}}
sequence: [{content: one}, {content: two}, {content: three}]
after: cycle
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True, slots=True)
class _Case:
    label: str
    workers: int
    redis: bool
    stateful: bool


CASES = (
    _Case("stateless, 1 worker, memory", 1, False, False),
    _Case("stateless, 1 worker, Redis", 1, True, False),
    _Case("stateless, 2 workers, Redis", 2, True, False),
    _Case("stateful, 1 worker, memory", 1, False, True),
    _Case("stateful, 1 worker, Redis", 1, True, True),
    _Case("stateful, 2 workers, Redis", 2, True, True),
)


def _start_server(
    case: _Case, redis_url: str, scenarios: Path
) -> tuple[subprocess.Popen[str], str]:
    args = [
        sys.executable,
        "-m",
        "mockllm",
        "serve",
        "--port",
        "0",
        "--scenarios",
        str(scenarios),
        str(_REPO / "scenarios"),
    ]
    if case.redis:
        args += [
            "--state",
            redis_url,
            "--state-prefix",
            f"bench:{uuid.uuid4().hex}:",
            "--workers",
            str(case.workers),
        ]
    proc = subprocess.Popen(
        args,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=_REPO,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stdout is not None
    url = ""
    for line in proc.stdout:
        found = re.search(r"serving on (http://\S+)", line)
        if found:
            url = found.group(1)
        if url and (case.workers == 1 or "workers (pids" in line):
            break
    if not url:
        proc.kill()
        raise RuntimeError(f"{case.label}: the server did not start")
    return proc, url


def _cpu_seconds(pid: int) -> float:
    """CPU seconds (user + system) of ``pid`` and its children so far, from /proc."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return 0.0
    own = (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK")
    return own + sum(_cpu_seconds(int(child)) for child in children)


def _cpu_seconds_of(pids: tuple[int, ...]) -> float:
    return sum(_cpu_seconds(pid) for pid in pids)


def _stop(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


async def _take_round_trip_us(redis_url: str, count: int = 2000) -> float:
    """Microseconds for one use-count script, sequentially, from this process."""
    from mockllm.state.redis_store import RedisStore

    store = RedisStore(redis_url, prefix=f"bench:{uuid.uuid4().hex}:")
    try:
        await store.take("warm", None, None)
        started = time.perf_counter()
        for _ in range(count):
            await store.take("s", None, None)
        return (time.perf_counter() - started) / count * 1e6
    finally:
        await store.close()


def main(argv: list[str] | None = None) -> int:
    """Run every case and print the table."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.workers",
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
    if not os.path.exists(binary):
        print("bench.workers needs redis-server (apt-get install redis-server)", file=sys.stderr)
        return 1
    folder = Path(tempfile.mkdtemp(prefix="mockllm-bench-"))
    scenarios = folder / "counted.yaml"
    scenarios.write_text(_STATEFUL)
    port = _free_port()
    redis = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(folder),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    redis_url = f"redis://127.0.0.1:{port}/0"
    try:
        time.sleep(0.3)
        results: dict[str, LoadResult] = {}
        for case in CASES:
            proc, url = _start_server(case, redis_url, scenarios)
            text = "count me" if case.stateful else "hello"
            body = orjson.dumps(
                {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": text}]}
            )
            try:
                results[case.label] = asyncio.run(
                    run_load(
                        f"{url}/v1/chat/completions",
                        body,
                        concurrency=args.concurrency,
                        seconds=args.seconds,
                        warmup=args.warmup,
                        server_cpu=functools.partial(_cpu_seconds_of, (proc.pid, redis.pid)),
                    )
                )
            finally:
                _stop(proc)
        round_trip = asyncio.run(_take_round_trip_us(redis_url))
    finally:
        redis.terminate()
        redis.wait(10)
        shutil.rmtree(folder, ignore_errors=True)
    _report(results, round_trip, os.cpu_count() or 1)
    return 0


def _report(results: dict[str, LoadResult], round_trip_us: float, cores: int) -> None:
    def cpu_us(result: LoadResult) -> float:
        return result.server_cpu / result.requests * 1e6 if result.requests else 0.0

    print(f"{'case':<30} {'req/s':>8} {'p50 ms':>7} {'CPU us/req':>10} {'errors':>6}")
    for label, result in results.items():
        print(
            f"{label:<30} {result.rps:>8,.0f} {result.p50_ms:>7.2f} {cpu_us(result):>10,.0f} "
            f"{result.errors:>6}"
        )
    for kind in ("stateless", "stateful"):
        one, two = results[f"{kind}, 1 worker, Redis"], results[f"{kind}, 2 workers, Redis"]
        memory = results[f"{kind}, 1 worker, memory"]
        ratio = two.rps / one.rps if one.rps else 0.0
        print(
            f"{kind}: 2 workers = {ratio:.2f}x 1 worker (goal for stateless: >= 1.6x); "
            f"Redis adds {cpu_us(one) - cpu_us(memory):,.0f} us of CPU per request "
            "(mockllm and redis-server) on 1 worker"
        )
    print(f"use-count script round trip, sequential from one client: {round_trip_us:,.0f} us")
    if cores <= 2:
        print(
            f"note: {cores} cores run the workers, Redis and the load generator together; "
            "2 workers cannot double throughput here"
        )


if __name__ == "__main__":
    sys.exit(main())
