"""A benchmark server subprocess: start it pinned to a core, wait for its first 200, stop it.

Any server goes: the bare endpoint (``python -m bench.serve``), ``mockllm serve`` and
aimock each get a command line that binds the port chosen here on 127.0.0.1. The
startup time is from spawning the process to the first 200 answer to the case's
own request, which is also checked (a server that answers an error is not
benchmarked). CPU time and resident memory come from ``/proc/<pid>`` (Linux);
elsewhere they read as 0, and the benchmark still reports throughput and latency.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import aiohttp

__all__ = [
    "Answer",
    "ServerProcess",
    "free_port",
    "machine_busy_seconds",
    "pinned_command",
    "split_cores",
]

_REPO = Path(__file__).resolve().parents[1]
_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def split_cores(pin: bool = True) -> tuple[int | None, int | None]:
    """(server core, load generator core): the last and the first this process may use;
    (None, None) with fewer than two cores or ``pin`` off."""
    if not pin or not hasattr(os, "sched_getaffinity"):
        return None, None
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < 2:
        return None, None
    return cores[-1], cores[0]


def machine_busy_seconds() -> float:
    """CPU seconds all cores spent not idle since boot (from /proc/stat; 0 elsewhere)."""
    try:
        with open("/proc/stat") as stat:
            fields = [int(v) for v in stat.readline().split()[1:]]
    except OSError:
        return 0.0
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return (sum(fields[:8]) - idle) / _TICKS


def pinned_command(command: Sequence[str], cpu: int | None) -> list[str]:
    """``command`` run on core ``cpu`` (``taskset -c``); unchanged without taskset or core."""
    taskset = shutil.which("taskset")
    if cpu is None or taskset is None:
        return list(command)
    return [taskset, "-c", str(cpu), *command]


@dataclass(frozen=True, slots=True)
class Answer:
    """The first 200 answer of a server: content type and body."""

    content_type: str
    body: bytes


class ServerProcess:
    """A server command as an async context manager, up once it answered 200."""

    def __init__(
        self,
        command: Sequence[str],
        port: int,
        *,
        body: bytes,
        path: str = "/v1/chat/completions",
        cpu: int | None = None,
        start_timeout: float = 120.0,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.command = list(command)
        self.port = port
        self.cpu = cpu
        self.path = path
        self.body = body
        self.headers = {"Content-Type": "application/json", **(headers or {})}
        self.start_timeout = start_timeout
        self.startup_seconds = 0.0
        self.idle_rss_mib = 0.0
        self.answer: Answer | None = None
        self._proc: asyncio.subprocess.Process | None = None
        # A file, not a pipe: a chatty server must never block on a full pipe.
        self._output = tempfile.TemporaryFile()

    @property
    def url(self) -> str:
        """Base URL of the running server."""
        return f"http://127.0.0.1:{self.port}"

    async def __aenter__(self) -> ServerProcess:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(_REPO), env.get("PYTHONPATH")]))
        # mockllm without its access-log line per request, as aimock runs with
        # --log-level warn (an environment variable, so an older checkout's server
        # started with --mockllm-python ignores it instead of refusing an option).
        env["MOCKLLM_QUIET"] = "1"
        # Start from compiled bytecode, as an installed package does (pip compiles it);
        # a shell that turns bytecode files off would otherwise have every mockllm
        # module compiled from source at each start of the startup rows.
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        preexec = None
        if (
            self.cpu is not None
            and shutil.which("taskset") is None
            and hasattr(os, "sched_setaffinity")
        ):
            cpu = self.cpu

            def preexec() -> None:
                os.sched_setaffinity(0, {cpu})

        async with aiohttp.ClientSession() as session:
            started = time.perf_counter()
            self._proc = await asyncio.create_subprocess_exec(
                *pinned_command(self.command, self.cpu),
                cwd=_REPO,
                env=env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=self._output,
                stderr=self._output,
                preexec_fn=preexec,
            )
            try:
                self.answer = await self._first_200(session, started)
            except BaseException:
                await self._stop()
                self._output.close()
                raise
            self.startup_seconds = time.perf_counter() - started
        self.idle_rss_mib = self.rss_mib()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._stop()
        self._output.close()

    async def _first_200(self, session: aiohttp.ClientSession, started: float) -> Answer:
        assert self._proc is not None
        while True:
            try:
                async with session.post(
                    self.url + self.path, data=self.body, headers=self.headers
                ) as reply:
                    data = await reply.read()
                    if reply.status == 200:
                        return Answer(reply.headers.get("Content-Type", ""), data)
                    raise RuntimeError(
                        f"{' '.join(self.command)} answered {reply.status}: "
                        f"{data[:2000].decode(errors='replace')}"
                    )
            except (aiohttp.ClientConnectionError, OSError):
                if self._proc.returncode is not None:
                    raise RuntimeError(
                        f"{' '.join(self.command)} exited "
                        f"({self._proc.returncode}):\n{self.output()}"
                    ) from None
                if time.perf_counter() - started > self.start_timeout:
                    raise RuntimeError(
                        f"{' '.join(self.command)} did not answer within "
                        f"{self.start_timeout:g} s:\n{self.output()}"
                    ) from None
                await asyncio.sleep(0.005)

    def output(self) -> str:
        """What the server wrote to stdout and stderr so far (the last 4,000 characters)."""
        self._output.seek(0)
        return self._output.read().decode("utf-8", "replace")[-4000:]

    def cpu_seconds(self) -> float:
        """User plus system CPU seconds the server has used so far."""
        try:
            stat = Path(f"/proc/{self.pid}/stat").read_text()
        except OSError:
            return 0.0
        # Fields after the command name (which may hold spaces) start at field 3.
        fields = stat.rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / _TICKS

    def rss_mib(self) -> float:
        """The server's resident memory now, in MiB."""
        return self._status_mib("VmRSS")

    def peak_rss_mib(self) -> float:
        """The server's peak resident memory so far, in MiB."""
        return self._status_mib("VmHWM")

    @property
    def pid(self) -> int:
        """Process id of the server (taskset execs it, so the same process)."""
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
