"""Shared fixtures for mockllm's own tests: a real server on a background thread."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import openai
import pytest
from aiohttp import web
from redis_server import RedisServer, find_redis_server

from mockllm.config import Settings
from mockllm.http.app import AppParts, create_app
from mockllm.server import MockLLMServer


@pytest.fixture(scope="session")
def live_server(mockllm_parts: AppParts) -> Iterator[MockLLMServer]:
    """A mockllm server with the built-in scenarios on a free port."""
    with MockLLMServer(Settings(port=0), parts=mockllm_parts) as server:
        yield server


@pytest.fixture()
def openai_client(live_server: MockLLMServer) -> openai.OpenAI:
    """The real openai SDK pointed at the live server, without retries."""
    return openai.OpenAI(base_url=live_server.base_url, api_key="sk-test", max_retries=0)


@pytest.fixture()
def make_app(mockllm_parts: AppParts) -> Callable[..., web.Application]:
    """``create_app`` sharing the session's compiled parts: a fresh app in milliseconds."""

    def make(settings: Settings | None = None) -> web.Application:
        return create_app(settings, parts=mockllm_parts)

    return make


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """A real redis-server on a free loopback port for the whole session (skipped, with a
    note, where none is installed; CI sets REQUIRE_REDIS=1 to require it)."""
    server = RedisServer(find_redis_server()).start()
    yield server
    server.stop()
