"""``mockllm serve --workers N``: N worker processes serving one port.

The supervisor (this process) compiles the app's expensive parts once (schemas, the
tokenizer, the sentence pool), reserves the port and forks the workers. Each worker
runs its own event loop with its own ``create_app`` and state-store connection, and
listens on the same port with ``SO_REUSEPORT``: the kernel spreads new connections
over the workers, with no process in the request path. A worker that dies is
started again; the state lives in the shared store (``--state``), so nothing is lost.
SIGINT or SIGTERM stops every worker.

Why SO_REUSEPORT processes and not gunicorn's aiohttp worker: a worker here is the
one-process server (``serve_forever`` with the same startup, shutdown and signal
handling), so there is one way to run the app, not two; no dependency is added; the
compiled schemas are built once and shared copy-on-write; ``--port 0`` works (the
supervisor reserves the port); and the kernel balances connections per listener
instead of every worker waking for each ``accept`` on one shared socket. The price:
Linux (or a BSD) is needed, which :func:`workers_problem` says on other systems.

Several workers need a shared state store: each process's own memory would count
``times``, sequences and rate budgets once per worker (:func:`workers_problem`).
"""

from __future__ import annotations

import contextlib
import gc
import logging
import multiprocessing
import os
import signal
import socket
import sys
import time
from collections.abc import Callable
from multiprocessing.connection import Connection, wait
from typing import Any

from ..config import Settings
from ..errors import ConfigError
from ..state import redacted_url
from .app import AppParts, create_app
from .context import STATE
from .serving import bind_problem, run, serve_forever

__all__ = ["serve_workers", "workers_problem"]

log = logging.getLogger("mockllm")

# Seconds a worker may take to start listening.
_START_TIMEOUT = 60.0
# Seconds between starts of a worker that keeps dying.
_RESTART_DELAY = 1.0
# Seconds the workers get to finish after SIGTERM.
_STOP_TIMEOUT = 10.0


def workers_problem(settings: Settings) -> str | None:
    """Why these settings cannot run several workers; None when they can."""
    if settings.workers <= 1:
        return None
    if not hasattr(socket, "SO_REUSEPORT") or sys.platform == "win32":
        return (
            f"--workers {settings.workers} needs SO_REUSEPORT and fork (Linux, the BSDs); "
            "run one worker on this system, or several servers behind a proxy sharing "
            "--state."
        )
    if settings.state:
        return None
    return (
        f"--workers {settings.workers} needs a shared state store: each worker process "
        "would otherwise keep its own scenario use counts, sequence positions, rate "
        "budgets and journal, so a `times: 1` error would fire once per worker and a "
        "60 rpm limit would admit 60 per worker. Start a Redis (e.g. `redis-server "
        "--port 6379`) and add --state redis://127.0.0.1:6379/0 (MOCKLLM_STATE), or "
        "drop --workers."
    )


def _reserve(host: str, port: int) -> socket.socket:
    """A bound, not listening socket that holds the port for the workers (port 0: a
    free one); bound sockets get no connections, only the listening workers do."""
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(address)
    return sock


def _worker(index: int, settings: Settings, parts: AppParts, ready: Connection) -> None:
    """One worker process: its own loop, app and store connection, on the shared port."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    app = create_app(settings, parts=parts)
    app[STATE].worker = index

    def announce(url: str, scenarios: int) -> None:
        ready.send(url)
        ready.close()

    with contextlib.suppress(KeyboardInterrupt):
        run(serve_forever(settings, announce, app=app, reuse_port=True))


class _Supervisor:
    """Starts the workers, starts again the ones that die, stops them all."""

    def __init__(self, settings: Settings, parts: AppParts) -> None:
        self.settings = settings
        self.parts = parts
        self.context = multiprocessing.get_context("fork")
        self.workers: dict[int, Any] = {}
        self.started: dict[int, float] = {}
        self.stopping = False

    def start(self, index: int) -> Connection:
        receive, send = self.context.Pipe(duplex=False)
        process = self.context.Process(
            target=_worker,
            name=f"mockllm-worker-{index}",
            args=(index, self.settings, self.parts, send),
            daemon=False,
        )
        process.start()
        send.close()
        self.workers[index] = process
        self.started[index] = time.monotonic()
        return receive

    def wait_ready(self, pipes: dict[int, Connection]) -> str:
        """The URL once every worker listens; RuntimeError naming a worker that died."""
        deadline = time.monotonic() + _START_TIMEOUT
        url = ""
        while pipes:
            left = deadline - time.monotonic()
            if left <= 0:
                raise RuntimeError(
                    f"workers {sorted(pipes)} did not start listening within {_START_TIMEOUT:.0f} s"
                )
            ready = wait(list(pipes.values()), timeout=min(left, 0.5))
            for index, conn in [(i, c) for i, c in pipes.items() if c in ready]:
                try:
                    url = str(conn.recv())
                except EOFError:
                    code = self.workers[index].exitcode
                    raise RuntimeError(
                        f"worker {index} exited (code {code}) before it "
                        "listened; its error is above"
                    ) from None
                conn.close()
                del pipes[index]
        return url

    def watch(self) -> None:
        """Until asked to stop: start again every worker that died."""
        while not self.stopping:
            sentinels = [p.sentinel for p in self.workers.values()]
            wait(sentinels, timeout=0.5)
            for index, process in list(self.workers.items()):
                if self.stopping or process.is_alive():
                    continue
                process.join()
                log.warning(
                    "mockllm: worker %d (pid %d) exited with code %s; starting it again",
                    index,
                    process.pid,
                    process.exitcode,
                )
                since = time.monotonic() - self.started[index]
                if since < _RESTART_DELAY:
                    time.sleep(_RESTART_DELAY - since)
                self.start(index).close()

    def stop(self) -> None:
        self.stopping = True
        for process in self.workers.values():
            if process.is_alive():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + _STOP_TIMEOUT
        for process in self.workers.values():
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                process.kill()
                process.join()


def serve_workers(settings: Settings, announce: Callable[[str], None]) -> int:
    """Serve with ``settings.workers`` processes on one port until SIGINT or SIGTERM."""
    try:
        reserved = _reserve(settings.host, settings.port)
    except OSError as exc:
        raise ConfigError(
            f"cannot listen on {settings.host}:{settings.port}: {bind_problem(settings.host, exc)}"
        ) from None
    settings = settings.with_overrides(port=reserved.getsockname()[1])
    parts = AppParts.build()
    # What the workers inherit stays shared with this process (no copy on write by
    # the collector), like the one-process server's gc.freeze().
    gc.collect()
    gc.freeze()
    supervisor = _Supervisor(settings, parts)

    def stop(signum: int, frame: Any) -> None:
        supervisor.stopping = True

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        pipes = {i: supervisor.start(i) for i in range(settings.workers)}
        try:
            url = supervisor.wait_ready(pipes)
        except RuntimeError as exc:
            print(f"mockllm: {exc}", file=sys.stderr)
            return 1
        announce(url)
        pids = ", ".join(str(p.pid) for p in supervisor.workers.values())
        print(
            f"mockllm: {settings.workers} workers (pids {pids}) share the port and the "
            f"state in {redacted_url(settings.state or '')}",
            flush=True,
        )
        supervisor.watch()
        return 0
    finally:
        supervisor.stop()
        reserved.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
