"""wrk as the load generator: a Lua script for the POST body, and its summary parsed.

wrk (the Debian package ``wrk``) is a C load generator, cheap enough per request
that one core saturates a server on the other; the Python generator in
bench/load.py is the fallback without it. wrk has no notion of SSE, but an SSE
answer is one complete HTTP response (chunked), which wrk reads to its end like
any other, so its latency is until ``data: [DONE]``.

The script sets the method, body and headers and, in ``done()``, prints one line
``WRK-RESULT key=value ...`` that :func:`parse_output` reads: completed requests,
the errors (``status`` counts answers with a status of 400 or more; the others are
socket errors), bytes read (headers included), the window, and latency
percentiles. wrk takes whole seconds only, so durations are rounded up.
"""

from __future__ import annotations

import asyncio
import math
import re
import resource
import shutil
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from .load import LoadResult
from .process import pinned_command

__all__ = [
    "WrkSummary",
    "find_wrk",
    "lua_script",
    "lua_string",
    "parse_output",
    "run_wrk",
    "wrk_seconds",
]

THREADS = 1  # one core for the load generator

_DONE = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "WRK-RESULT requests=%.0f status_errors=%.0f connect=%.0f read=%.0f write=%.0f " ..
    "timeout=%.0f bytes=%.0f duration_us=%.0f p50_us=%.0f p99_us=%.0f max_us=%.0f\\n",
    summary.requests, e.status, e.connect, e.read, e.write, e.timeout, summary.bytes,
    summary.duration, latency:percentile(50), latency:percentile(99), latency.max))
end
"""
_SAFE = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,:;-_/{}[]")


@dataclass(frozen=True, slots=True)
class WrkSummary:
    """What one wrk run reported (times in microseconds, as wrk keeps them)."""

    requests: int  # completed responses, whatever their status
    status_errors: int  # responses with a status of 400 or more
    socket_errors: int  # connect, read, write errors and timeouts
    bytes: int  # everything read, headers included
    duration_us: int
    p50_us: float
    p99_us: float
    max_us: float

    @property
    def ok(self) -> int:
        """Responses with a status below 400."""
        return self.requests - self.status_errors


def lua_string(data: bytes) -> str:
    """A Lua string literal of ``data`` (anything but plain characters as ``\\ddd``)."""
    return '"' + "".join(chr(b) if b in _SAFE else f"\\{b:03d}" for b in data) + '"'


def lua_script(body: bytes, headers: Mapping[str, str]) -> str:
    """The wrk script that POSTs ``body`` with ``headers`` and reports in ``done()``."""
    lines = ['wrk.method = "POST"', f"wrk.body = {lua_string(body)}"]
    lines += [
        f"wrk.headers[{lua_string(name.encode())}] = {lua_string(value.encode())}"
        for name, value in headers.items()
    ]
    return "\n".join(lines) + "\n" + _DONE


def parse_output(text: str) -> WrkSummary:
    """The figures of the ``WRK-RESULT`` line in wrk's output (ValueError without one)."""
    match = re.search(r"^WRK-RESULT (.*)$", text, flags=re.M)
    if match is None:
        raise ValueError(f"no WRK-RESULT line in wrk's output:\n{text[-2000:]}")
    fields = {key: float(value) for key, value in re.findall(r"(\w+)=([\d.]+)", match[1])}
    return WrkSummary(
        requests=int(fields["requests"]),
        status_errors=int(fields["status_errors"]),
        socket_errors=int(sum(fields[k] for k in ("connect", "read", "write", "timeout"))),
        bytes=int(fields["bytes"]),
        duration_us=int(fields["duration_us"]),
        p50_us=fields["p50_us"],
        p99_us=fields["p99_us"],
        max_us=fields["max_us"],
    )


def find_wrk() -> tuple[str | None, str]:
    """(path of wrk, its version line), or (None, "") when it is not installed."""
    path = shutil.which("wrk")
    if path is None:
        return None, ""
    out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=30)
    return path, (out.stdout + out.stderr).splitlines()[
        0
    ].strip() if out.stdout + out.stderr else "wrk"


def wrk_seconds(seconds: float) -> int:
    """The whole seconds wrk runs for ``seconds`` (at least 1)."""
    return max(1, math.ceil(seconds - 1e-9))


async def _wrk(
    wrk: str, url: str, script: Path, connections: int, seconds: float, cpu: int | None
) -> WrkSummary:
    proc = await asyncio.create_subprocess_exec(
        *pinned_command([wrk], cpu),
        f"-t{THREADS}",
        f"-c{connections}",
        f"-d{wrk_seconds(seconds)}s",
        "--timeout",
        "10s",
        "-s",
        str(script),
        url,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"wrk failed ({proc.returncode}): {err.decode(errors='replace')}")
    return parse_output(out.decode(errors="replace"))


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


async def run_wrk(
    wrk: str,
    url: str,
    body: bytes,
    *,
    connections: int,
    seconds: float,
    warmup: float,
    script_dir: Path,
    headers: Mapping[str, str] | None = None,
    server_cpu: Callable[[], float] | None = None,
    cpu: int | None = None,
) -> LoadResult:
    """A warm-up wrk run (not counted), then the measured one, as a :class:`LoadResult`.

    ``server_cpu`` reads the server's CPU seconds; it is sampled around the measured
    run. The load generator's CPU is wrk's, from the rusage of reaped children. ``cpu``
    pins wrk to that core (else it runs where this process may).
    """
    probe = server_cpu or (lambda: 0.0)
    script = script_dir / "post.lua"
    script.write_text(
        lua_script(body, {"Content-Type": "application/json", **(headers or {})}), encoding="utf-8"
    )
    if warmup > 0:
        await _wrk(wrk, url, script, connections, warmup, cpu)
    cpu0, server0 = _children_cpu(), probe()
    summary = await _wrk(wrk, url, script, connections, seconds, cpu)
    cpu1, server1 = _children_cpu(), probe()
    window = summary.duration_us / 1e6
    return LoadResult(
        requests=summary.ok,
        errors=summary.status_errors + summary.socket_errors,
        seconds=window,
        p50_ms=summary.p50_us / 1000,
        p99_ms=summary.p99_us / 1000,
        max_ms=summary.max_us / 1000,
        response_bytes=summary.bytes,
        client_cpu=cpu1 - cpu0,
        server_cpu=server1 - server0,
    )
