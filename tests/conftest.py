"""Shared fixtures for mockllm's own tests: a real server on a background thread."""

from __future__ import annotations

from collections.abc import Iterator

import openai
import pytest

from mockllm.config import Settings
from mockllm.server import MockLLMServer


@pytest.fixture(scope="session")
def live_server() -> Iterator[MockLLMServer]:
    """A mockllm server with the built-in scenarios on a free port."""
    with MockLLMServer(Settings(port=0)) as server:
        yield server


@pytest.fixture()
def openai_client(live_server: MockLLMServer) -> openai.OpenAI:
    """The real openai SDK pointed at the live server, without retries."""
    return openai.OpenAI(base_url=live_server.base_url, api_key="sk-test", max_retries=0)
