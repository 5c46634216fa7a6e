"""Run a mockllm app on a background thread: for the pytest plugin and for embedding.

The server gets its own event loop and thread, so synchronous code, other threads
and subprocesses under test can all reach it over HTTP. Port 0 picks a free port.
"""

from __future__ import annotations

import asyncio
import errno
import gc
import signal
import socket
import threading
from collections.abc import Callable
from typing import Any

from aiohttp import web

from .config import Settings
from .errors import ConfigError
from .http.app import STATE, AppParts, ServerState, create_app

__all__ = ["MockLLMServer", "serve_forever"]


class MockLLMServer:
    """A mockllm server on a background thread; ``start()``, ``url``, ``stop()``."""

    def __init__(self, settings: Settings | None = None, *,
                 parts: AppParts | None = None) -> None:
        self.settings = settings or Settings(port=0)
        self._parts = parts
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self.port: int | None = None
        self.app: web.Application | None = None

    @property
    def url(self) -> str:
        """``http://host:port`` of the running server."""
        if self.port is None:
            raise RuntimeError("the mockllm server is not running")
        return f"http://{self.settings.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """The URL to give OpenAI clients as ``base_url`` (ends in ``/v1``)."""
        return f"{self.url}/v1"

    @property
    def state(self) -> ServerState:
        """The running app's state: journal, scenarios, settings."""
        if self.app is None:
            raise RuntimeError("the mockllm server is not running")
        return self.app[STATE]

    def start(self) -> MockLLMServer:
        """Start serving; returns once the port is bound (or raises why it could not)."""
        if self._thread is not None:
            return self
        self.app = create_app(self.settings, parts=self._parts)
        self._thread = threading.Thread(target=self._run, name="mockllm-server", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            self._thread.join()
            self._thread = None
            raise self._error
        return self

    def call(self, func: Callable[[], Any]) -> Any:
        """Run ``func`` on the server's loop thread and return its result."""
        if self._loop is None:
            return func()

        async def run() -> Any:
            return func()

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result()

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._start_site())
        except BaseException as exc:  # reported to start() in the caller's thread
            self._error = exc
            self._ready.set()
            loop.close()
            return
        self._ready.set()
        loop.run_forever()
        loop.run_until_complete(self._runner.cleanup() if self._runner else asyncio.sleep(0))
        loop.close()

    async def _start_site(self) -> None:
        assert self.app is not None
        self._runner = web.AppRunner(self.app, access_log=None, handle_signals=False)
        await self._runner.setup()
        self.port = await _listen(self._runner, self.settings)

    def stop(self) -> None:
        """Stop serving and join the thread."""
        if self._loop is None or self._thread is None:
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._thread = None
        self._loop = None
        self.port = None

    def __enter__(self) -> MockLLMServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


async def _listen(runner: web.AppRunner, settings: Settings) -> int:
    """Listen on the settings' host and port; returns the port bound (port 0 picks one).

    A host that does not resolve, a port in use or not allowed is a ConfigError that
    says which and what to change, not a traceback.
    """
    host, port = settings.host, settings.port
    try:
        await web.TCPSite(runner, host, port).start()
    except OSError as exc:
        raise ConfigError(f"cannot listen on {host}:{port}: {_bind_problem(host, exc)}") from None
    bound: int = runner.addresses[0][1]
    return bound


def _bind_problem(host: str, exc: OSError) -> str:
    if isinstance(exc, socket.gaierror):
        return (f"the host {host!r} does not resolve ({exc.strerror}); give a name or "
                "address of this machine, such as 127.0.0.1 or 0.0.0.0 (--host, MOCKLLM_HOST)")
    if exc.errno == errno.EADDRINUSE:
        return ("the port is in use (another server?); choose another --port (MOCKLLM_PORT), "
                "or 0 for a free one")
    if exc.errno == errno.EACCES:
        return "permission denied (ports below 1024 need privileges); choose another --port"
    if exc.errno == errno.EADDRNOTAVAIL:
        return f"{host!r} is not an address of this machine (--host, MOCKLLM_HOST)"
    return exc.strerror or str(exc)


async def serve_forever(settings: Settings, announce: Callable[[str], None]) -> None:
    """Serve in the current loop until SIGINT or SIGTERM (the CLI's ``serve``)."""
    app = create_app(settings)
    # Everything built so far (schemas, validators, word pools, scenarios) lives as long
    # as the server: move it out of the collector's sight, so collections stay short.
    gc.collect()
    gc.freeze()
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    # Handle the signals explicitly: a server started in the background by a shell
    # inherits an ignored SIGINT, and CI systems stop services with SIGTERM.
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        port = await _listen(runner, settings)
        announce(f"http://{settings.host}:{port}")
        await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        await runner.cleanup()
