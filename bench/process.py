"""A benchmark server subprocess: start it, learn its port, read its CPU and memory, stop it.

CPU time and resident memory come from ``/proc/<pid>`` (Linux); elsewhere they read
as 0, and the benchmark still reports throughput and latency.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

__all__ = ["ServerProcess"]

_REPO = Path(__file__).resolve().parents[1]
_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


class ServerProcess:
    """``python -m bench.serve ...`` as an async context manager."""

    def __init__(self, kind: str, *, scenarios: Path | None = None, cpu: int | None = None,
                 start_timeout: float = 120.0) -> None:
        self.args = ["-m", "bench.serve", kind]
        if scenarios is not None:
            self.args += ["--scenarios", str(scenarios)]
        if cpu is not None:
            self.args += ["--cpu", str(cpu)]
        self.start_timeout = start_timeout
        self.port = 0
        self.startup_seconds = 0.0
        self.idle_rss_mib = 0.0
        self._proc: asyncio.subprocess.Process | None = None
        # A file, not a pipe: a chatty server must never block on a full pipe.
        self._stderr = tempfile.TemporaryFile()

    @property
    def url(self) -> str:
        """Base URL of the running server."""
        return f"http://127.0.0.1:{self.port}"

    async def __aenter__(self) -> ServerProcess:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(_REPO), env.get("PYTHONPATH")]))
        started = time.perf_counter()
        self._proc = await asyncio.create_subprocess_exec(
            sys.executable, *self.args, cwd=_REPO, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=self._stderr)
        assert self._proc.stdout is not None
        try:
            line = await asyncio.wait_for(self._proc.stdout.readline(), self.start_timeout)
        except TimeoutError:
            line = b""
        if not line.startswith(b"PORT "):
            await self._stop()
            self._stderr.seek(0)
            err = self._stderr.read()
            self._stderr.close()
            raise RuntimeError(f"benchmark server {' '.join(self.args)} did not start:\n"
                               + err.decode("utf-8", "replace")[-4000:])
        self.port = int(line.split()[1])
        self.startup_seconds = time.perf_counter() - started
        self.idle_rss_mib = self._status_mib("VmRSS")
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._stop()
        self._stderr.close()

    def cpu_seconds(self) -> float:
        """User plus system CPU seconds the server has used so far."""
        try:
            stat = Path(f"/proc/{self.pid}/stat").read_text()
        except OSError:
            return 0.0
        # Fields after the command name (which may hold spaces) start at field 3.
        fields = stat.rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / _TICKS

    def peak_rss_mib(self) -> float:
        """The server's peak resident memory so far, in MiB."""
        return self._status_mib("VmHWM")

    @property
    def pid(self) -> int:
        """Process id of the server."""
        assert self._proc is not None
        return self._proc.pid

    def _status_mib(self, key: str) -> float:
        try:
            for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                if line.startswith(key + ":"):
                    return int(line.split()[1]) / 1024.0  # the value is in kB
        except OSError:
            pass
        return 0.0

    async def _stop(self) -> None:
        proc = self._proc
        if proc is None or proc.returncode is not None:
            return
        proc.terminate()
        try:
            await asyncio.wait_for(proc.wait(), 10)
        except TimeoutError:
            proc.kill()
            await proc.wait()
