"""The load generator: a fixed number of keep-alive connections posting for a fixed time.

Each of ``concurrency`` workers sends the same request over its own keep-alive
connection (one request in flight per connection, no pipelining), reads the
whole answer (every SSE chunk of a stream), and records how long that took. A
warm-up period runs first and is not counted, so connection setup and lazy
imports do not skew the figures.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

import aiohttp

__all__ = ["LoadResult", "percentile", "run_load"]


@dataclass(frozen=True, slots=True)
class LoadResult:
    """What one load run measured (by this generator or by wrk, bench/wrk.py)."""

    requests: int  # answered with the expected status, in the measured window
    errors: int  # other statuses or failed connections
    seconds: float  # length of the measured window
    p50_ms: float
    p99_ms: float
    max_ms: float
    response_bytes: int  # total bytes of the counted answers (wrk: headers included)
    client_cpu: float  # CPU seconds the load generator used in the window
    server_cpu: float  # CPU seconds the server used in the window (0.0 when not probed)

    @property
    def rps(self) -> float:
        """Answered requests per second."""
        return self.requests / self.seconds if self.seconds > 0 else 0.0

    @property
    def mean_bytes(self) -> float:
        """Average size of an answer."""
        return self.response_bytes / self.requests if self.requests else 0.0


def percentile(ordered: Sequence[float], q: float) -> float:
    """Nearest-rank quantile of already sorted values (0.0 when empty)."""
    if not ordered:
        return 0.0
    rank = max(1, math.ceil(q * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


@dataclass(slots=True)
class _Tally:
    """Counters the workers share; only touched while ``counting`` is on."""

    counting: bool = False
    requests: int = 0
    errors: int = 0
    response_bytes: int = 0
    latencies: list[float] | None = None


async def run_load(
    url: str,
    body: bytes,
    *,
    concurrency: int,
    seconds: float,
    warmup: float,
    headers: Mapping[str, str] | None = None,
    expect_status: int = 200,
    server_cpu: Callable[[], float] | None = None,
    client: str = "raw",
) -> LoadResult:
    """Post ``body`` to ``url`` from ``concurrency`` workers; measure ``seconds`` after warm-up.

    ``client`` is ``"raw"`` (a minimal HTTP/1.1 keep-alive client on asyncio
    streams, cheap enough that one core can saturate a bare aiohttp server) or
    ``"aiohttp"`` (``ClientSession``, what real callers use, but it costs the load
    generator more CPU than the baseline server spends). ``server_cpu`` reads the
    server's CPU seconds so far; it is sampled at both ends of the measured window.
    """
    probe = server_cpu or (lambda: 0.0)
    tally = _Tally(latencies=[])
    stop = asyncio.Event()
    send_headers = {"Content-Type": "application/json", **(headers or {})}
    target = urlsplit(url)
    host, port = target.hostname or "127.0.0.1", target.port or 80
    async with contextlib.AsyncExitStack() as stack:
        if client == "aiohttp":
            session = await stack.enter_async_context(
                aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency))
            )

            async def exchange() -> Callable[[], Awaitable[tuple[int, bytes]]]:
                async def once() -> tuple[int, bytes]:
                    async with session.post(url, data=body, headers=send_headers) as response:
                        return response.status, await response.read()

                return once
        elif client == "raw":
            request = _raw_request(target.path or "/", f"{host}:{port}", send_headers, body)

            async def exchange() -> Callable[[], Awaitable[tuple[int, bytes]]]:
                reader, writer = await asyncio.open_connection(host, port)
                stack.callback(writer.close)

                async def once() -> tuple[int, bytes]:
                    writer.write(request)
                    return await _read_response(reader)

                return once
        else:
            raise ValueError(f"unknown client {client!r}: use raw or aiohttp")

        async def worker() -> None:
            latencies = tally.latencies
            assert latencies is not None
            clock = time.perf_counter
            once = await exchange()
            while not stop.is_set():
                started = clock()
                try:
                    status, data = await once()
                    ok = status == expect_status
                except (aiohttp.ClientError, OSError, asyncio.IncompleteReadError):
                    ok, data = False, b""
                    if client == "raw":
                        once = await exchange()  # the server closed: reconnect
                if not tally.counting:
                    continue
                if ok:
                    tally.requests += 1
                    tally.response_bytes += len(data)
                    latencies.append((clock() - started) * 1000.0)
                else:
                    tally.errors += 1

        tasks = [asyncio.create_task(worker()) for _ in range(concurrency)]
        try:
            await asyncio.sleep(warmup)
            tally.counting = True
            cpu0, wall0, server0 = time.process_time(), time.perf_counter(), probe()
            await asyncio.sleep(seconds)
            tally.counting = False
            cpu1, wall1, server1 = time.process_time(), time.perf_counter(), probe()
            stop.set()
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
    ordered = sorted(tally.latencies or ())
    return LoadResult(
        tally.requests,
        tally.errors,
        wall1 - wall0,
        percentile(ordered, 0.50),
        percentile(ordered, 0.99),
        percentile(ordered, 1.0),
        tally.response_bytes,
        cpu1 - cpu0,
        server1 - server0,
    )


def _raw_request(path: str, host: str, headers: Mapping[str, str], body: bytes) -> bytes:
    lines = [f"POST {path} HTTP/1.1", f"Host: {host}", f"Content-Length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """(status, body) of one HTTP/1.1 answer: Content-Length or chunked (SSE streams)."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    lowered = head.lower()
    marker = lowered.find(b"\r\ncontent-length:")
    if marker >= 0:
        end = lowered.index(b"\r\n", marker + 2)
        return status, await reader.readexactly(int(head[marker + 17 : end]))
    if b"\r\ntransfer-encoding: chunked" not in lowered:
        raise ValueError("the benchmark client reads Content-Length or chunked answers only")
    parts: list[bytes] = []
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
        if size == 0:
            await reader.readuntil(b"\r\n")  # the empty trailer
            return status, b"".join(parts)
        parts.append((await reader.readexactly(size + 2))[:-2])
