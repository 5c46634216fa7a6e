"""Binding an app to a port: for the CLI, the background-thread server and the plugin.

``start_site`` sets an app up on a host and port (0: a free one) in the running loop,
its connections starting in the lean lane, and returns the running site and its port;
``serve_forever`` is the CLI's ``serve``, ``run`` runs it on uvloop when that is
installed, and ``LineBatchHandler`` writes the access log (one line per request) once
per loop turn rather than once per line. ``QuietRefusals`` is aiohttp's server log with a
malformed request as one warning line, not a traceback.
"""

from __future__ import annotations

import asyncio
import errno
import gc
import logging
import signal
import socket
from collections.abc import Callable, Coroutine
from typing import IO, Any

from aiohttp import web
from aiohttp.http import HttpProcessingError

from ..config import Settings
from ..errors import ConfigError
from .app import create_app
from .context import STATE
from .leanserver import LeanLane

__all__ = [
    "LineBatchHandler",
    "QuietRefusals",
    "Site",
    "bind_problem",
    "run",
    "serve_forever",
    "start_site",
]


class LineBatchHandler(logging.StreamHandler[IO[str]]):
    """A stream handler that writes (and flushes) the lines of one event-loop turn at once.

    Under load a server logs one line per request; a write and a flush for each cost
    more than the request's reply. Lines logged outside a running loop (or from another
    thread) are written at once; ``logging.shutdown`` flushes what is left.
    """

    def __init__(self, stream: IO[str]) -> None:
        super().__init__(stream)
        self._pending: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        """Keep the formatted line; write it at the end of this loop turn."""
        try:
            self._pending.append(self.format(record))
        except Exception:  # noqa: BLE001 - logging's own contract: report, never raise
            self.handleError(record)
            return
        if len(self._pending) > 1:
            return  # a flush is already due
        try:
            asyncio.get_running_loop().call_soon(self.flush)
        except RuntimeError:  # no loop in this thread: now
            self.flush()

    def flush(self) -> None:
        """Write the kept lines and flush the stream."""
        self.acquire()
        try:
            if self._pending:
                lines, self._pending = self._pending, []
                self.stream.write(self.terminator.join(lines) + self.terminator)
            super().flush()
        finally:
            self.release()


class QuietRefusals(logging.LoggerAdapter[logging.Logger]):
    """aiohttp's server log (``aiohttp.server``), where a request its parser refuses (a
    malformed head, a header over the limits: answered 400) is one warning line instead
    of an error with a traceback: the client's mistake, not the server's."""

    def __init__(self) -> None:
        super().__init__(logging.getLogger("aiohttp.server"))

    def exception(self, msg: object, *args: object, exc_info: Any = True, **kwargs: Any) -> None:
        """A refused request as a warning; any other failure as aiohttp logs it."""
        if isinstance(exc_info, HttpProcessingError) and 400 <= exc_info.code < 500:
            self.warning("refused a malformed request: %s %s", exc_info.code, exc_info.message)
            return
        super().exception(msg, *args, exc_info=exc_info, **kwargs)


def run(main: Coroutine[Any, Any, None]) -> None:
    """``asyncio.run(main)``, on uvloop when it is installed (a faster loop for serving)."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(main)
        return
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(main)


class Site:
    """A running app: its bound port, and ``close()`` to stop serving it."""

    __slots__ = ("_lane", "_runner", "app", "port")

    def __init__(
        self, app: web.Application, runner: web.AppRunner, lane: LeanLane, port: int
    ) -> None:
        self.app = app
        self._runner = runner
        self._lane = lane
        self.port = port

    async def close(self) -> None:
        """Stop accepting, finish the app's cleanup (the state store is closed)."""
        await self._lane.close()
        await self._runner.cleanup()


async def start_site(
    app: web.Application, host: str, port: int, *, reuse_port: bool = False
) -> Site:
    """Serve ``app`` on ``host:port`` in the running loop (port 0 picks one).

    Connections start in the lean lane (``leanserver.py``), which hands every request
    it does not take to the app's aiohttp server. ``reuse_port``: several processes
    listen on the port and the kernel spreads the connections over them
    (SO_REUSEPORT). A host that does not resolve, a port in use or not allowed is a
    ConfigError that says which and what to change, not a traceback.
    """
    runner = web.AppRunner(app, access_log=None, handle_signals=False, logger=QuietRefusals())
    await runner.setup()
    assert runner.server is not None  # set up just above
    lane = LeanLane(app, runner.server)
    try:
        bound = await lane.listen(host, port, reuse_port=reuse_port)
    except OSError as exc:
        await runner.cleanup()
        raise ConfigError(f"cannot listen on {host}:{port}: {bind_problem(host, exc)}") from None
    except BaseException:
        await runner.cleanup()
        raise
    return Site(app, runner, lane, bound)


def bind_problem(host: str, exc: OSError) -> str:
    """Why ``host`` could not be listened on, and what to change, in one phrase."""
    if isinstance(exc, socket.gaierror):
        return (
            f"the host {host!r} does not resolve ({exc.strerror}); give a name or "
            "address of this machine, such as 127.0.0.1 or 0.0.0.0 (--host, MOCKLLM_HOST)"
        )
    if exc.errno == errno.EADDRINUSE:
        return (
            "the port is in use (another server?); choose another --port (MOCKLLM_PORT), "
            "or 0 for a free one"
        )
    if exc.errno == errno.EACCES:
        return "permission denied (ports below 1024 need privileges); choose another --port"
    if exc.errno == errno.EADDRNOTAVAIL:
        return f"{host!r} is not an address of this machine (--host, MOCKLLM_HOST)"
    return exc.strerror or str(exc)


async def serve_forever(
    settings: Settings,
    announce: Callable[[str, int], None],
    *,
    app: Any = None,
    reuse_port: bool = False,
) -> None:
    """Serve in the current loop until SIGINT or SIGTERM (the CLI's ``serve``, and each
    worker of ``serve --workers``, which share the port with ``reuse_port``).
    ``announce`` is told the URL and how many scenarios were loaded."""
    app = app if app is not None else create_app(settings)
    # Everything built so far (schemas, validators, scenarios) lives as long as the
    # server: move it out of the collector's sight, so collections stay short. Start-up
    # leaves next to no garbage, so nothing is collected first (that took tens of
    # milliseconds); `mockllm serve` starts up without collections, which resume here.
    gc.freeze()
    gc.enable()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    # Handle the signals explicitly: a server started in the background by a shell
    # inherits an ignored SIGINT, and CI systems stop services with SIGTERM.
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        site = await start_site(app, settings.host, settings.port, reuse_port=reuse_port)
        try:
            announce(f"http://{settings.host}:{site.port}", len(app[STATE].scenarios.loaded))
            await stop.wait()
        finally:
            await site.close()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
