"""Run a mockllm app on a background thread: for the pytest plugin and for embedding.

The server gets its own event loop and thread, so synchronous code, other threads
and subprocesses under test can all reach it over HTTP. Port 0 picks a free port.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import Callable
from typing import Any

from .config import Settings
from .http.app import AppParts, create_app
from .http.context import STATE, ServerState
from .http.serving import Site, start_site
from .scenario_engine.conditions import MatcherRegistry
from .state import run_now

__all__ = ["MockLLMServer"]


class MockLLMServer:
    """A mockllm server on a background thread; ``start()``, ``url``, ``stop()``."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        parts: AppParts | None = None,
        registry: MatcherRegistry | None = None,
    ) -> None:
        self.settings = settings or Settings(port=0)
        self._parts = parts
        self._registry = registry
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._site: Site | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self.port: int | None = None
        self.app: Any = None

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
        """The running app's state: settings, scenarios, state store."""
        if self.app is None:
            raise RuntimeError("the mockllm server is not running")
        state: ServerState = self.app[STATE]
        return state

    def start(self) -> MockLLMServer:
        """Start serving; returns once the port is bound (or raises why it could not)."""
        if self._thread is not None:
            return self
        self._ready.clear()  # a restart must wait for its own bind, not the last one
        self._error = None
        self.app = create_app(self.settings, parts=self._parts, registry=self._registry)
        self._thread = threading.Thread(target=self._run, name="mockllm-server", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            self._thread.join()
            self._thread = None
            raise self._error
        return self

    def call(self, func: Callable[[], Any]) -> Any:
        """Run ``func`` on the server's loop thread and return its result (awaited,
        when it is a coroutine)."""
        if self._loop is None:  # not serving: nothing else runs on the app's state
            result = func()
            return run_now(result) if inspect.iscoroutine(result) else result

        async def run() -> Any:
            result = func()
            return await result if inspect.isawaitable(result) else result

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result()

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            self._site = loop.run_until_complete(
                start_site(self.app, self.settings.host, self.settings.port)
            )
            self.port = self._site.port
        except BaseException as exc:  # reported to start() in the caller's thread
            self._error = exc
            self._loop = None
            self._ready.set()
            loop.close()
            return
        self._ready.set()
        loop.run_forever()
        loop.run_until_complete(self._site.close())
        loop.close()

    def stop(self) -> None:
        """Stop serving and join the thread."""
        if self._loop is None or self._thread is None:
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._thread = None
        self._loop = None
        self._site = None
        self.port = None
        self._ready.clear()

    def __enter__(self) -> MockLLMServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
